#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fetch-kernel.sh - download one of Debian's own kernels (image + headers + kbuild) for a
# leg of the kernel matrix, without installing anything: `apt-get download` through an
# apt configuration of our own (its own sources, lists and cache under the cache folder;
# the machine's sources, architectures and dpkg database are left alone), then `dpkg -x`.
#
#   fetch-kernel.sh LEG
#
# LEG is one of:
#   x86_64-6.12      bookworm's 6.12 (amd64)
#   x86_64-6.12-rt   bookworm's 6.12 PREEMPT_RT (rt-amd64)
#   x86_64-5.10      bullseye's 5.10 (amd64)
#   arm64-6.1        bookworm's 6.1 (arm64)
#   arm64-6.12-16k   bookworm's 6.12 with 16 KiB pages (arm64-16k)
#
# Prints, on success:
#   KERNEL_IMAGE=<vmlinuz>  KDIR=<headers to build modules against>
#   ARCH=<x86_64|arm64>     RELEASE=<uname -r of the kernel>
#   BUSYBOX=<static busybox for the guest> (arm64 legs only: the host's serves x86_64)
# The newest version the registry carries is taken; each version is extracted once into
# ${ACL_SHARE_CACHE:-~/.cache/acl_share}/kernels/<release>/ and reused.
set -euo pipefail

leg=${1:-}
cache=${ACL_SHARE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/acl_share}
mirror=http://deb.debian.org
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
die() { echo "fetch-kernel: $*" >&2; exit 1; }

# leg -> debian architecture, kernel flavour, ABI pattern (a regex over the release)
case $leg in
x86_64-6.12) darch=amd64 flavour=amd64 abi_re='6\.12\.[0-9]+\+deb12' ;;
x86_64-6.12-rt) darch=amd64 flavour=rt-amd64 abi_re='6\.12\.[0-9]+\+deb12' ;;
x86_64-5.10) darch=amd64 flavour=amd64 abi_re='5\.10\.0-[0-9]+' ;;
arm64-6.1) darch=arm64 flavour=arm64 abi_re='6\.1\.0-[0-9]+' ;;
arm64-6.12-16k) darch=arm64 flavour=arm64-16k abi_re='6\.12\.[0-9]+\+deb12' ;;
*) die "usage: $0 x86_64-6.12|x86_64-6.12-rt|x86_64-5.10|arm64-6.1|arm64-6.12-16k" ;;
esac
[[ $darch == arm64 ]] && arch=arm64 || arch=x86_64
[[ -f $keyring ]] || die "$keyring missing (apt-get install debian-archive-keyring)"

# ---------------------------------------------------------------- our own apt
apt_dir=$cache/apt
mkdir -p "$apt_dir"/{lists/partial,archives/partial,etc}
cat > "$apt_dir/etc/sources.list.new" <<EOF
deb [signed-by=$keyring] $mirror/debian bookworm main
deb [signed-by=$keyring] $mirror/debian bookworm-updates main
deb [signed-by=$keyring] $mirror/debian-security bookworm-security main
deb [signed-by=$keyring] $mirror/debian bullseye main
deb [signed-by=$keyring] $mirror/debian-security bullseye-security main
EOF
mv "$apt_dir/etc/sources.list.new" "$apt_dir/etc/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "Dir::State::status=/dev/null"
	-o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1
	-o Acquire::Retries=3)

# The lists are refreshed at most once an hour (one run of test.sh fetches several legs).
stamp=$apt_dir/lists/.updated
if [[ ! -f $stamp || -n $(find "$stamp" -mmin +60) ]]; then
	apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
		{ tail -5 "$apt_dir/update.log" >&2; die "apt-get update (our own sources) failed"; }
	touch "$stamp"
fi

# Newest ABI first: the image, both header packages and kbuild must all be there.
mapfile -t abis < <(apt-cache "${apt_opts[@]}" pkgnames linux-image- |
	sed -nE "s/^linux-image-($abi_re)-$flavour-unsigned\$/\\1/p" | sort -rV)
((${#abis[@]})) || die "no linux-image-*-$flavour-unsigned matching $abi_re in the registry"

has_pkg() { apt-cache "${apt_opts[@]}" show "$1" >/dev/null 2>&1; }

for abi in "${abis[@]}"; do
	release=$abi-$flavour
	tree=$cache/kernels/$release
	if [[ -f $tree/.acl_share_done ]]; then
		break
	fi
	case $abi in
	5.10.*) kbuild=linux-kbuild-5.10 ;;
	6.1.*) kbuild=linux-kbuild-6.1 ;;
	*) kbuild=linux-kbuild-$abi ;;
	esac
	common=linux-headers-$abi-common
	[[ $flavour == rt-* ]] && common+=-rt
	pkgs=("linux-image-$release-unsigned:$darch" "linux-headers-$release:$darch" "$common" "$kbuild:amd64")
	ok=1
	for p in "${pkgs[@]}"; do
		has_pkg "$p" || { ok=0; break; }
	done
	((ok)) || { echo "fetch-kernel: $release is incomplete in the registry, trying an older one" >&2; continue; }

	echo "fetch-kernel: downloading $release (${pkgs[*]})" >&2
	rm -rf "$tree" "$tree.debs"
	mkdir -p "$tree.debs"
	(cd "$tree.debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}" >download.log 2>&1) ||
		{ tail -5 "$tree.debs/download.log" >&2; die "downloading $release failed"; }
	mkdir -p "$tree"
	for deb in "$tree.debs"/*.deb; do
		dpkg -x "$deb" "$tree"
	done
	rm -rf "$tree.debs"

	# The headers' stub Makefile includes the common headers by absolute path, and its
	# scripts/tools links are relative (../../lib/linux-kbuild-*): both must point into
	# the tree.
	hdr=$tree/usr/src/linux-headers-$release
	[[ -f $hdr/Makefile ]] || die "$hdr/Makefile missing"
	sed -i "s#/usr/src/linux-headers-#$tree/usr/src/linux-headers-#" "$hdr/Makefile"
	for d in "$hdr" "$tree/usr/src/$common"; do
		for l in scripts tools; do
			[[ -L $d/$l ]] || continue
			ln -sfn "$tree/usr/lib/$kbuild/$l" "$d/$l"
		done
	done
	[[ -f $tree/boot/vmlinuz-$release ]] || die "$tree/boot/vmlinuz-$release missing"
	touch "$tree/.acl_share_done"
	break
done
[[ -n ${tree:-} && -f $tree/.acl_share_done ]] || die "no complete kernel for $leg could be downloaded"

# A static busybox of the guest's ISA.
if [[ $darch != amd64 ]]; then
	bbdir=$cache/busybox-$darch
	if [[ ! -x $bbdir/bin/busybox ]]; then
		rm -rf "$bbdir" "$bbdir.deb"
		mkdir -p "$bbdir.deb"
		(cd "$bbdir.deb" && apt-get "${apt_opts[@]}" download "busybox-static:$darch" >download.log 2>&1) ||
			{ tail -5 "$bbdir.deb/download.log" >&2; die "downloading busybox-static:$darch failed"; }
		dpkg -x "$bbdir.deb"/busybox-static_*.deb "$bbdir"
		rm -rf "$bbdir.deb"
	fi
	[[ -x $bbdir/bin/busybox ]] || die "$bbdir/bin/busybox missing"
	echo "BUSYBOX=$bbdir/bin/busybox"
fi
echo "KERNEL_IMAGE=$tree/boot/vmlinuz-$release"
echo "KDIR=$tree/usr/src/linux-headers-$release"
echo "ARCH=$arch"
echo "RELEASE=$release"
