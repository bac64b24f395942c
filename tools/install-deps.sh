#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# install-deps.sh - install what building, linting and the test VM need on Debian 12.
# Idempotent: when everything is already installed it only says so (pass --update to
# run apt-get update and install anyway). Runs apt-get as root, through sudo if needed.
#
#   build:  gcc/g++/make (build-essential), meson, ninja, pkg-config,
#           linux-headers-amd64 (the module is built against /lib/modules/<ver>/build)
#   tests:  linux-source-6.1 (kselftest_harness.h), linux-image-amd64 (the kernel the
#           VM boots), qemu-system-x86, busybox-static + cpio + gzip (the VM's initramfs),
#           kmod (modinfo, modprobe on a real host)
#   lint:   sparse
#   debug:  flex, bison, bc, libelf-dev, libssl-dev (tools/build-debug-kernel.sh)
#   packages: debhelper, dh-dkms, dkms, lintian (tools/package-test.sh builds, checks,
#           installs and removes the Debian packages)
#   matrix: dwarves (pahole: 6.12 modules carry BTF), debian-archive-keyring
#           (tools/fetch-kernel.sh), the aarch64 cross toolchain and qemu-system-arm
#           (the arm64 legs)
set -euo pipefail

packages=(
	build-essential gcc g++ make pkg-config meson ninja-build
	linux-headers-amd64 linux-image-amd64 linux-source-6.1 xz-utils kmod
	qemu-system-x86 busybox-static cpio gzip iproute2
	sparse
	debhelper dh-dkms dkms lintian
	flex bison bc libelf-dev libssl-dev
	dwarves debian-archive-keyring
	gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm
)

missing=()
for p in "${packages[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)) && [[ ${1:-} != --update ]]; then
	echo "install-deps: all ${#packages[@]} packages are installed"
	exit 0
fi

sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600 --no-install-recommends)
echo "install-deps: installing ${missing[*]:-(refresh)}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update </dev/null >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install "${packages[@]}" </dev/null >/dev/null
echo "install-deps: done"
