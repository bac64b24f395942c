#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - build acl_share.ko, libacl-shim and acl-share-demo, boot a VM, load the
# module and run the demo in it (its transcript is printed). Works on a fresh Debian 12
# machine; exit status 0 only if the demo succeeded and the kernel log stayed clean.
#
# Environment: BUILD_DIR (default: build), MESON_SETUP_ARGS (extra `meson setup` options).
set -euo pipefail

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

bash tools/install-deps.sh
if [[ ! -f $build/build.ninja ]]; then
	# shellcheck disable=SC2086 # MESON_SETUP_ARGS is a list of options
	meson setup "$build" ${MESON_SETUP_ARGS:-}
fi
meson compile -C "$build"
meson compile -C "$build" demo
