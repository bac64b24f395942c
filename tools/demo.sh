#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh [--servers 2] - build acl_share.ko, libacl-shim and acl-share-demo, boot a VM,
# load the module and run the demo in it (its transcript is printed). Works on a fresh
# Debian 12 machine; exit status 0 only if the demo succeeded and the kernel log stayed
# clean. --servers 2: two VMs joined by soft-RoCE, acl_share_fabric.ko on each, and the
# cross-server demo (acl-share-demo fabric, docs/fabric.md).
#
# Environment: BUILD_DIR (default: build), MESON_SETUP_ARGS (extra `meson setup` options).
set -euo pipefail

servers=1
case ${1:-} in
'') ;;
--servers)
	servers=${2:-}
	[[ $servers == 2 ]] || { echo "demo.sh: --servers takes 2" >&2; exit 2; } ;;
*) echo "usage: demo.sh [--servers 2]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

bash tools/install-deps.sh
if [[ ! -f $build/build.ninja ]]; then
	# shellcheck disable=SC2086 # MESON_SETUP_ARGS is a list of options
	meson setup "$build" ${MESON_SETUP_ARGS:-}
fi
meson compile -C "$build"
if ((servers == 2)); then
	meson compile -C "$build" demo-fabric
else
	meson compile -C "$build" demo
fi
