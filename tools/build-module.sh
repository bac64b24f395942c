#!/bin/sh
# Builds acl_share.ko out of tree without writing into the source tree:
# Kbuild, kmod/ and include/ are copied to OUTDIR/src and built there.
#   build-module.sh KDIR SRCDIR OUTDIR [make arguments...]
# (e.g. W=1, or ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- for a cross build).
# A kernel built with a compiler this machine lacks (bullseye's 5.10 names gcc-10)
# is built for with the machine's gcc of the same target.
set -eu
kdir=$1 src=$2 out=$3
shift 3
work="$out/src"

# Copy a file only when its content changed, so that Kbuild's own
# dependency tracking sees exactly the edits (mtimes of the source tree
# can go backwards with checkouts; contents cannot lie).
sync_file() {
	mkdir -p "$(dirname "$2")"
	cmp -s "$1" "$2" || cp "$1" "$2"
}

sync_file "$src/Kbuild" "$work/Kbuild"
(cd "$src" && find kmod include -type f) | while read -r f; do
	sync_file "$src/$f" "$work/$f"
done
cross=''
for a in "$@"; do
	case $a in CROSS_COMPILE=*) cross=${a#CROSS_COMPILE=} ;; esac
done
kcc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\{0,1\}\([^ ]*\) .*/\1/p' "$kdir/include/config/auto.conf" 2>/dev/null || true)
case $kcc in
gcc-*) command -v "$cross$kcc" >/dev/null 2>&1 || set -- "$@" CC="${cross}gcc" ;;
esac
make -s -C "$kdir" M="$work" "$@" modules
cp "$work/acl_share.ko" "$out/acl_share.ko"
# acl_share_fabric.ko exists where the kernel has rdma_cm and configfs (Kbuild)
if [ -f "$work/acl_share_fabric.ko" ]; then
	cp "$work/acl_share_fabric.ko" "$out/acl_share_fabric.ko"
fi
