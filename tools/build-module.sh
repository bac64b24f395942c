#!/bin/sh
# Builds acl_share.ko out of tree without writing into the source tree:
# Kbuild, kmod/ and include/ are copied to OUTDIR/src and built there.
#   build-module.sh KDIR SRCDIR OUTDIR [make arguments...]
set -eu
kdir=$1 src=$2 out=$3
shift 3
work="$out/src"
mkdir -p "$work"
# Copy only what changed so Kbuild's own dependency tracking keeps working.
cp -u "$src/Kbuild" "$work/"
mkdir -p "$work/kmod" "$work/include"
cp -ru "$src/kmod/." "$work/kmod/"
cp -ru "$src/include/." "$work/include/"
make -s -C "$kdir" M="$work" "$@" modules
cp "$work/acl_share.ko" "$out/acl_share.ko"
