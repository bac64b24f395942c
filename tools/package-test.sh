#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# package-test.sh - proves the Debian packages on this machine, as an operator would use
# them: build them (dpkg-buildpackage -us -uc -b, in a copy of the source tree), lintian
# (no errors), `apt-get install ./*.deb`, DKMS builds the module for the kernel the test VM
# boots (W=1, no warnings), then boot that kernel with the DKMS-built module and run the
# packaged acl-share-demo (linked against the packaged libacl-shim.so.0) and a program
# built with `pkg-config --cflags --libs acl-shim` against the installed headers; finally
# purge the packages and prove that nothing of them is left.
#
#   package-test.sh KERNEL_RELEASE KERNEL_IMAGE [KDIR...]
#
#   KERNEL_RELEASE  the kernel the VM boots (its headers must be installed:
#                   /lib/modules/KERNEL_RELEASE/build)
#   KERNEL_IMAGE    its image (e.g. /boot/vmlinuz-KERNEL_RELEASE)
#   KDIR            headers of other kernels (not installed: e.g. the matrix's, from
#                   tools/fetch-kernel.sh) that DKMS must build the module for too
#
# Installs and removes packages system-wide (as root, through sudo if needed), so it is
# a step of tools/test.sh and not a meson test. Prints "ok N - ..." / "not ok N - ..."
# lines, then "N passed, N failed"; exit 0 only if all passed.

set -uo pipefail

prog=${0##*/}
if (($# < 2)); then
	echo "usage: $prog KERNEL_RELEASE KERNEL_IMAGE [KDIR...]" >&2
	echo "0 passed, 1 failed"
	exit 2
fi
kver=$1 kimage=$2
shift 2
other_kdirs=("$@")
srcdir=$(cd "$(dirname -- "$0")/.." && pwd)
runner=$srcdir/selftests/vm/run-in-vm.sh
pkgs=(acl-share-dkms libacl-shim0 libacl-shim-dev acl-share-tools)

# shellcheck source=tools/tap.sh
. "$(dirname -- "$0")/tap.sh"
abort() { # abort TITLE [DETAIL...]: a failure the rest cannot do without
	result FAIL "$@"
	purge >/dev/null 2>&1
	finish
}

root=()
((EUID == 0)) || root=(sudo)
apt_get() { "${root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }
purge() {
	local p present=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W "$p" >/dev/null 2>&1 && present+=("$p")
	done
	((${#present[@]} == 0)) || apt_get purge "${present[@]}"
}

for t in dpkg-buildpackage lintian dkms meson pkg-config cc git python3; do
	command -v "$t" >/dev/null || abort "$t is installed" "$t not found (tools/install-deps.sh installs it)"
done
[[ -d /lib/modules/$kver/build ]] || abort "the headers of $kver are installed" "no /lib/modules/$kver/build"
[[ -f $kimage ]] || abort "kernel image $kimage exists"

work=$(mktemp -d "${TMPDIR:-/tmp}/package-test.XXXXXX") || abort "mktemp"
# shellcheck disable=SC2317 # (called by the EXIT trap)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# A machine that kept the packages of an earlier, interrupted run starts clean.
purge >"$work/purge0.log" 2>&1 || abort "earlier acl-share packages are purged" "$(tail "$work/purge0.log")"

# ------------------------------------------------------------------ one version
version=$(sed -n "s/^  version : '\([^']*\)',\$/\1/p" "$srcdir/meson.build")
dkms_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$srcdir/dkms.conf")
deb_version=$(dpkg-parsechangelog -l "$srcdir/debian/changelog" -S Version)
if [[ -n $version && $dkms_version == "$version" && $deb_version == "$version" ]]; then
	result OK "one version everywhere: $version (meson.build, dkms.conf, debian/changelog)"
else
	result FAIL "one version everywhere" "meson.build '$version', dkms.conf '$dkms_version'," \
		"debian/changelog '$deb_version'"
fi

# ------------------------------------------------------------------ build the packages
# In a copy of the tree (what git tracks or would track, less what the working tree
# deleted: git ls-files still lists a deleted tracked file): dpkg-buildpackage writes its
# results next to the source directory and leaves debian/ build state in it.
mkdir -p "$work/src" || abort "copy of the source tree"
(cd "$srcdir" && git ls-files -co --exclude-standard -z | grep -zv '^build' |
	while IFS= read -r -d '' f; do
		if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
	done | xargs -0 tar -cf - --) 2>"$work/copy.err" | tar -xf - -C "$work/src" 2>>"$work/copy.err" ||
	abort "copy of the source tree" "$(cat "$work/copy.err")"
if (cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	result OK "dpkg-buildpackage -us -uc -b"
else
	abort "dpkg-buildpackage -us -uc -b" "$(tail -n 30 "$work/build.log")"
fi
debs=()
for p in "${pkgs[@]}"; do
	f=$(compgen -G "$work/${p}_${version}_*.deb") || abort "$p ${version} was built" "$(ls "$work")"
	debs+=("$f")
done

# lintian on the .changes (all four packages): errors fail, warnings are shown. (It runs
# as whoever runs this script, root included: this version needs no flag for that.)
if lintian --fail-on error "$work"/acl-share_"${version}"_*.changes >"$work/lintian.log" 2>&1; then
	result OK "lintian: no errors ($(grep -c '^W:' "$work/lintian.log") warnings)"
	grep '^W:' "$work/lintian.log" | sed 's/^/# /'
else
	result FAIL "lintian: no errors" "$(grep -v '^W:' "$work/lintian.log")"
fi

# ------------------------------------------------------------------ install
apt_get install --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 ||
	abort "apt-get install ./*.deb" "$(tail -n 30 "$work/install.log")"
result OK "apt-get install ./${pkgs[0]}_${version}_all.deb and the other three"
listed=()
for p in "${pkgs[@]}"; do
	mapfile -t -O "${#listed[@]}" listed < <(dpkg -L "$p")
done

# DKMS builds the module at install time for the kernels that have headers (here: the
# newest one); an operator adds another kernel with `dkms install` (its kernel package's
# hook does the same).
status() { dkms status -m acl-share -v "$version" -k "$kver" 2>&1; }
if [[ $(status) != *": installed"* ]]; then
	echo "# not built at install time for $kver; dkms install -k $kver"
	"${root[@]}" dkms install "acl-share/$version" -k "$kver" >"$work/dkms.log" 2>&1 ||
		echo "# $(tail -n 5 "$work/dkms.log")"
fi
if [[ $(status) == *"acl-share/$version, $kver, "*": installed"* ]]; then
	result OK "dkms status: $(status)"
else
	abort "dkms status shows acl-share/$version installed for $kver" "$(dkms status 2>&1)"
fi
ko=$(modinfo -k "$kver" -n acl_share 2>/dev/null)
case $ko in
*.ko) cp "$ko" "$work/acl_share.ko" ;;
*.ko.xz) xz -dc "$ko" >"$work/acl_share.ko" ;;
*.ko.zst) zstd -qdc "$ko" >"$work/acl_share.ko" ;;
*) abort "modinfo -k $kver -n acl_share finds the DKMS-built module" "got '$ko'" ;;
esac
if [[ $ko == */updates/dkms/* &&
	$(modinfo -F vermagic "$work/acl_share.ko" | awk '{ print $1 }') == "$kver" ]]; then
	result OK "the DKMS-built module is $ko, for $kver"
else
	result FAIL "the DKMS-built module is in updates/dkms, for $kver" "$ko:" \
		"$(modinfo "$work/acl_share.ko" 2>&1 | head -n 5)"
fi
fko=$(modinfo -k "$kver" -n acl_share_fabric 2>/dev/null)
if [[ $fko == */updates/dkms/acl_share_fabric.ko* ]] &&
	modinfo -k "$kver" -F depends acl_share_fabric 2>/dev/null | grep -qw acl_share; then
	result OK "the DKMS-built fabric module is $fko, depending on acl_share"
else
	result FAIL "DKMS builds acl_share_fabric.ko into updates/dkms" "modinfo -n: '$fko'"
fi
mlog=/var/lib/dkms/acl-share/$version/$kver/$(uname -m)/log/make.log
if [[ ! -f $mlog ]]; then
	result FAIL "DKMS's W=1 build has no warnings" "no $mlog"
elif grep -q 'W=1' "/usr/src/acl-share-$version/dkms.conf" && ! grep -qiE 'warning:|error:' "$mlog"; then
	result OK "DKMS's W=1 build has no warnings"
else
	result FAIL "DKMS's W=1 build has no warnings" \
		"W=1 lines in /usr/src/acl-share-$version/dkms.conf: $(grep -c 'W=1' "/usr/src/acl-share-$version/dkms.conf" 2>&1)" \
		"$(grep -iE -A3 'warning:|error:' "$mlog" | head -n 30)"
fi

# Other kernels: what `dkms build` does for each, against headers given by path.
for kd in "${other_kdirs[@]}"; do
	rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kd/include/generated/utsrelease.h" 2>/dev/null)
	if [[ -z $rel ]]; then
		result FAIL "dkms build for the kernel of $kd" "no kernel release in $kd"
		continue
	fi
	log=/var/lib/dkms/acl-share/$version/$rel/$(uname -m)/log/make.log
	if "${root[@]}" dkms build "acl-share/$version" -k "$rel" --kernelsourcedir "$kd" \
		>"$work/dkms-$rel.log" 2>&1 &&
		[[ $(dkms status -m acl-share -v "$version" -k "$rel" 2>&1) == *": built"* ]] &&
		[[ -f $log ]] && ! grep -qiE 'warning:|error:' "$log"; then
		result OK "dkms build for $rel (headers in $kd): built, W=1 without warnings"
	else
		result FAIL "dkms build for $rel (headers in $kd): built, W=1 without warnings" \
			"$(tail -n 20 "$work/dkms-$rel.log")" "$(grep -iE -A3 'warning:|error:' "$log" 2>/dev/null | head -n 20)"
	fi
	"${root[@]}" dkms remove "acl-share/$version" -k "$rel" >/dev/null 2>&1
done

# Every module parameter is documented in the modprobe.d file.
missing=()
for parm in $(modinfo -F parm "$work/acl_share.ko" | cut -d: -f1); do
	grep -q "^#options acl_share $parm=" /etc/modprobe.d/acl-share.conf || missing+=("$parm")
done
if [[ -f /etc/modprobe.d/acl-share.conf && ${#missing[@]} -eq 0 ]]; then
	result OK "/etc/modprobe.d/acl-share.conf documents every module parameter"
else
	result FAIL "/etc/modprobe.d/acl-share.conf documents every module parameter" "missing: ${missing[*]}"
fi
rule=$(grep -h '^KERNEL=="acl_share"' /lib/udev/rules.d/60-acl-share.rules 2>/dev/null)
if [[ $rule == *'SUBSYSTEM=="misc"'*'GROUP="'*'MODE="0666"'* ]]; then
	result OK "udev rule: $rule"
else
	result FAIL "udev rule /lib/udev/rules.d/60-acl-share.rules sets GROUP and MODE 0666" "got: '$rule'"
fi

# ------------------------------------------------------------------ a consumer
cat >"$work/consumer.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include "acl/acl.h"

/* Built with the installed headers and pkg-config only; run in the VM with the DKMS module. */
int main(void)
{
	aclrtPhysicalMemProp prop = {
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = ACL_HBM_MEM_HUGE,
		.location = { .id = 0, .type = ACL_MEM_LOCATION_TYPE_DEVICE },
	};
	aclrtDrvMemHandle h = NULL;
	uint32_t count = 0;
	void *va = NULL;
	aclError e;

	e = aclrtGetDeviceCount(&count);
	printf("aclrtGetDeviceCount: %d, %u devices\n", (int)e, (unsigned int)count);
	if (e != ACL_SUCCESS || count == 0)
		return 1;
	e = aclrtMallocPhysical(&h, 2 << 20, &prop, 0);
	printf("aclrtMallocPhysical 2 MiB: %d\n", (int)e);
	if (e != ACL_SUCCESS)
		return 1;
	if (aclrtReserveMemAddress(&va, 2 << 20, 0, NULL, 0) != ACL_SUCCESS ||
	    aclrtMapMem(va, 2 << 20, 0, h, 0) != ACL_SUCCESS) {
		printf("reserve/map: %s\n", aclGetRecentErrMsg());
		return 1;
	}
	memset(va, 0x5a, 2 << 20);
	e = aclrtUnmapMem(va);
	e = e ? e : aclrtReleaseMemAddress(va);
	e = e ? e : aclrtFreePhysical(h);
	printf("unmap, release, free: %d\n", (int)e);
	printf("consumer: %s\n", e == ACL_SUCCESS ? "ok" : "FAILED");
	return e != ACL_SUCCESS;
}
EOF
pc=$(pkg-config --cflags --libs acl-shim 2>&1)
# shellcheck disable=SC2086 # $pc is pkg-config's list of options
if cc -std=c11 -Wall -Wextra -Werror -o "$work/acl-share-consumer" "$work/consumer.c" $pc \
	>"$work/cc.log" 2>&1 &&
	so=$(ldd "$work/acl-share-consumer" | sed -n 's/^\s*libacl-shim\.so\.0 => \(\S*\) .*/\1/p') &&
	[[ $(dpkg -S "$(readlink -f "$so")" 2>/dev/null) == libacl-shim0:* ]]; then
	result OK "cc consumer.c \$(pkg-config --cflags --libs acl-shim) [$pc]: linked to the packaged libacl-shim.so.0"
else
	result FAIL "a program builds with pkg-config --cflags --libs acl-shim against the installed headers" \
		"$pc" "$(cat "$work/cc.log")" "$(ldd "$work/acl-share-consumer" 2>&1)"
fi

# ------------------------------------------------------------------ the VM
# The packaged programs are dynamically linked: the runner copies the libraries ldd names
# (the packaged libacl-shim.so.0 among them) into the guest.
vm_args=(--kernel "$kimage" --module "$work/acl_share.ko" --mode demo --timeout 600
	--bin /usr/bin/acl-share-exporter --bin /usr/bin/acl-share-importer)
if [[ -x /usr/bin/acl-share-stat && $(dpkg -S /usr/bin/acl-share-stat 2>/dev/null) == acl-share-tools:* ]]; then
	result OK "acl-share-tools ships /usr/bin/acl-share-stat"
	vm_args+=(--bin /usr/bin/acl-share-stat)
else
	result FAIL "acl-share-tools ships /usr/bin/acl-share-stat" \
		"acl-share-tools has: $(dpkg -L acl-share-tools 2>&1 | grep /usr/bin/)"
fi
cat >"$work/packaged-run" <<'EOF'
#!/bin/sh
# In the guest: the packaged demo (its two-process sharing and IPC scenarios), then the
# pkg-config-built consumer, then the packaged acl-share-stat (its JSON, checked on the host).
set -e
/bin/acl-share-demo
/bin/acl-share-demo ipc
/bin/acl-share-consumer
/bin/acl-share-stat --json
EOF
chmod +x "$work/packaged-run"
if "$runner" "${vm_args[@]}" --bin /usr/bin/acl-share-demo --bin "$work/acl-share-consumer" \
	--run "$work/packaged-run" >"$work/vm.log" 2>&1 &&
	grep -q '^consumer: ok' "$work/vm.log"; then
	result OK "VM ($kver) with the DKMS-built module: the packaged acl-share-demo and the consumer run"
	grep -E '^(=== |consumer|aclrt)' "$work/vm.log" | sed 's/^/# /'
else
	result FAIL "VM ($kver) with the DKMS-built module: the packaged acl-share-demo and the consumer run" \
		"$(tail -n 40 "$work/vm.log")"
fi
stat_json=$(grep -m1 '^{"opens":[0-9]' "$work/vm.log")
if [[ -n $stat_json ]]; then
	result OK "VM: the packaged acl-share-stat --json reads the DKMS-built module's counters"
	echo "# $stat_json"
else
	result FAIL "VM: the packaged acl-share-stat --json prints the counters ({\"opens\":N,...})" \
		"$(tail -n 20 "$work/vm.log")"
fi

# ------------------------------------------------------------------ remove
if purge >"$work/purge.log" 2>&1; then
	result OK "apt-get purge ${pkgs[*]}"
else
	result FAIL "apt-get purge ${pkgs[*]}" "$(tail -n 20 "$work/purge.log")"
fi
still=()
for p in "${pkgs[@]}"; do
	dpkg -L "$p" >/dev/null 2>&1 && still+=("$p")
done
left=()
for f in "${listed[@]}"; do
	[[ -e $f && ! -d $f ]] && left+=("$f")
done
for d in "/usr/src/acl-share-$version" /var/lib/dkms/acl-share "/lib/modules/$kver/updates/dkms/acl_share.ko"; do
	[[ -e $d ]] && left+=("$d")
done
if ((${#still[@]} == 0 && ${#left[@]} == 0)) && [[ -z $(dkms status -m acl-share 2>/dev/null) ]] &&
	! modinfo -k "$kver" -n acl_share >/dev/null 2>&1; then
	result OK "nothing is left: dpkg -L knows none of the packages, their ${#listed[@]} paths are gone, dkms status is empty"
else
	result FAIL "nothing is left after the purge" "packages still known: ${still[*]}" \
		"files left: ${left[*]}" "dkms status: $(dkms status -m acl-share 2>&1)"
fi

# ------------------------------------------------------------------ DKMS from source
# README.md's block for openEuler (DKMS from the source tree), run as written in a copy of
# the tree, for the VM's kernel rather than the running one and without the modprobe;
# then undone.
block=$(awk '/^\*\*openEuler/ { f = 1 } f && /^```$/ { if (in_b) exit; in_b = 1; next } in_b' "$srcdir/README.md")
# shellcheck disable=SC2016 # $ver is the block's own variable
block=$(sed -e 's|^\(dkms install acl-share/\$ver\)|\1 -k '"$kver"'|' -e '/^modprobe /d' <<<"$block")
fresh=()
for f in /etc/udev/rules.d/60-acl-share.rules /etc/modprobe.d/acl-share.conf; do
	[[ -e $f ]] || fresh+=("$f")
done
if [[ $block == *"dkms install acl-share/\$ver -k $kver"* ]] &&
	(cd "$work/src" && "${root[@]}" bash -euc "$block") >"$work/dkms-src.log" 2>&1 &&
	[[ $(status) == *": installed"* ]] && [[ $(modinfo -k "$kver" -n acl_share 2>/dev/null) == */updates/dkms/* ]]; then
	result OK "README's DKMS-from-source block builds and installs the module for $kver"
else
	result FAIL "README's DKMS-from-source block builds and installs the module for $kver" \
		"block:" "$block" "output:" "$(tail -n 20 "$work/dkms-src.log" 2>&1)" "dkms status: $(status)"
fi
"${root[@]}" dkms remove "acl-share/$version" --all >/dev/null 2>&1
"${root[@]}" rm -rf "/usr/src/acl-share-$version" "${fresh[@]}"
if [[ -z $(dkms status -m acl-share 2>/dev/null) ]] && ! modinfo -k "$kver" -n acl_share >/dev/null 2>&1; then
	result OK "dkms remove acl-share/$version --all leaves nothing"
else
	result FAIL "dkms remove acl-share/$version --all leaves nothing" "$(dkms status 2>&1)"
fi
finish
