#!/bin/sh
# SPDX-License-Identifier: MIT
# extract-kselftest.sh OUTDIR [TARBALL]
#
# Copies kselftest_harness.h and kselftest.h from Debian's linux-source
# tarball (default /usr/src/linux-source-6.1.tar.xz, or $KSELFTEST_TARBALL)
# into OUTDIR. Scanning the tarball takes ~8 s, so the two files are cached
# under ${XDG_CACHE_HOME:-$HOME/.cache}/acl_share/, keyed by the tarball's
# mtime and size: only the first build after the tarball changes pays.
# The headers are never committed to the project.
set -eu

out=${1:?usage: extract-kselftest.sh OUTDIR [TARBALL]}
tarball=${2:-${KSELFTEST_TARBALL:-/usr/src/linux-source-6.1.tar.xz}}
files="kselftest_harness.h kselftest.h"

if [ ! -r "$tarball" ]; then
	echo "extract-kselftest: $tarball not found (apt-get install linux-source-6.1)" >&2
	exit 1
fi

cache_root=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/acl_share
cache=$cache_root/kselftest-$(stat -c '%Y-%s' "$tarball")

has_all() { # has_all DIR: DIR holds every file
	for f in $files; do
		[ -s "$1/$f" ] || return 1
	done
}

if ! has_all "$cache"; then
	mkdir -p "$cache_root"
	tmp=$(mktemp -d "$cache_root/.kselftest.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	chmod 755 "$tmp"
	top=$(basename "$tarball" .tar.xz)
	members=
	for f in $files; do
		members="$members $top/tools/testing/selftests/$f"
	done
	# shellcheck disable=SC2086 # a list of paths without spaces
	tar -xJf "$tarball" -C "$tmp" --strip-components=4 $members
	has_all "$tmp" || { echo "extract-kselftest: $files not in $tarball" >&2; exit 1; }
	# Publish the whole directory at once: concurrent builds never see half
	# of it. If another build got there first, keep its copy; if a broken
	# copy is in the way, replace it.
	if ! mv -T "$tmp" "$cache" 2>/dev/null && ! has_all "$cache"; then
		rm -rf "$cache"
		mv -T "$tmp" "$cache"
	fi
fi

mkdir -p "$out"
for f in $files; do
	cp "$cache/$f" "$out/.$f.$$"
	mv -f "$out/.$f.$$" "$out/$f"
done
