#!/bin/bash
# Lints the kernel module the way a maintainer would:
#   checkpatch.pl --strict (from Debian's linux-source-6.1 tarball, extracted
#   once into a cache outside the source tree), a W=1 build and a sparse
#   build (C=2: check every file). Any finding fails.
#   lint-module.sh KDIR SRCDIR OUTDIR [make arguments of the module build...]
set -euo pipefail
kdir=$1 src=$2 out=$3
shift 3
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || { echo "lint: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }
command -v sparse >/dev/null || { echo "lint: sparse missing (apt-get install sparse)" >&2; exit 1; }

key=$(stat -c '%s-%Y' "$tarball")
cache="${XDG_CACHE_HOME:-$HOME/.cache}/acl_share/checkpatch-$key"
if [ ! -f "$cache/scripts/checkpatch.pl" ]; then
	mkdir -p "$cache.tmp"
	tar -xJf "$tarball" -C "$cache.tmp" --strip-components=1 \
		linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
	rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi

status=0
echo "== checkpatch --strict"
checkpatch() {
	perl "$cache/scripts/checkpatch.pl" --strict --no-tree --terse --show-types \
		--ignore "SPDX_LICENSE_TAG,FILE_PATH_CHANGES$1" -f "${@:2}"
}
# kmod/compat.h is the one place where kernel versions are compared, which
# checkpatch discourages in code meant for mainline, and where old kernels'
# CamelCase page-type helpers are called.
if ! checkpatch '' $(ls "$src"/kmod/*.c "$src"/kmod/*.h "$src"/kmod/fabric/*.[ch] | grep -v '/compat\.h$') \
	"$src"/include/uapi/linux/acl_share.h ||
	! checkpatch ,LINUX_VERSION_CODE,CONSTANT_COMPARISON,CAMELCASE "$src"/kmod/compat.h; then
	status=1
fi

echo "== W=1 and sparse (C=2)"
mkdir -p "$out"
log="$out/lint-build.log"
"$src/tools/build-module.sh" "$kdir" "$src" "$out/lint" "$@" W=1 C=2 >"$log" 2>&1 || status=1
# Kbuild prints only diagnostics with -s; BTF skipping is not one.
if grep -v -e '^Skipping BTF generation' -e '^  CHECK' "$log" | grep -q .; then
	grep -v -e '^Skipping BTF generation' -e '^  CHECK' "$log"
	status=1
fi
[ $status -eq 0 ] && echo "lint: clean" || echo "lint: FAILED"
exit $status
