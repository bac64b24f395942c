#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-debug-kernel.sh - build (once) a debug kernel from Debian's linux-source-6.1
# tarball for the hardening leg: KASAN (generic, inline), lockdep (PROVE_LOCKING),
# DEBUG_ATOMIC_SLEEP, kmemleak, UBSAN, fault injection (failslab, fail_page_alloc,
# fail-nth via debugfs), list and VM debugging; panic_on_warn stays off so every splat
# is counted by the VM runner instead of stopping the guest.
#
# The tree lives in a cache outside the source tree, keyed by a hash of the tarball
# and of the config fragment below, so only the first run pays (about 11 minutes on
# 2 cores); later runs print the cached paths at once.
#
# Prints two lines: KERNEL_IMAGE=<bzImage> and KDIR=<tree to build modules against>.
#
# Environment: ACL_SHARE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/acl_share),
# JOBS (default: nproc).
set -euo pipefail

tarball=/usr/src/linux-source-6.1.tar.xz
[[ -f $tarball ]] || { echo "build-debug-kernel: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }

# The config fragment: what the debug leg needs on top of defconfig + kvm_guest.config.
fragment='
CONFIG_MODULES=y
CONFIG_MODULE_UNLOAD=y
CONFIG_MODULE_SIG=n
CONFIG_BLK_DEV_INITRD=y
CONFIG_DEVTMPFS=y
CONFIG_SHMEM=y
CONFIG_TMPFS=y
CONFIG_TRANSPARENT_HUGEPAGE=y
CONFIG_TRANSPARENT_HUGEPAGE_MADVISE=y
CONFIG_MEMCG=y
CONFIG_NAMESPACES=y
CONFIG_PID_NS=y
CONFIG_USER_NS=y
CONFIG_CHECKPOINT_RESTORE=y
CONFIG_NUMA=y
CONFIG_DEBUG_FS=y
CONFIG_KASAN=y
CONFIG_KASAN_GENERIC=y
CONFIG_KASAN_INLINE=y
CONFIG_DEBUG_KMEMLEAK=y
CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE=40000
CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF=n
CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN=n
CONFIG_PROVE_LOCKING=y
CONFIG_DEBUG_ATOMIC_SLEEP=y
CONFIG_DEBUG_LIST=y
CONFIG_DEBUG_VM=y
CONFIG_DEBUG_OBJECTS=y
CONFIG_DEBUG_OBJECTS_FREE=y
CONFIG_DEBUG_OBJECTS_RCU_HEAD=y
CONFIG_UBSAN=y
CONFIG_UBSAN_BOUNDS=y
CONFIG_FAULT_INJECTION=y
CONFIG_FAILSLAB=y
CONFIG_FAIL_PAGE_ALLOC=y
CONFIG_FAULT_INJECTION_DEBUG_FS=y
CONFIG_FAULT_INJECTION_STACKTRACE_FILTER=n
CONFIG_PANIC_ON_OOPS=y
CONFIG_DEBUG_INFO_NONE=y
CONFIG_DEBUG_INFO_BTF=n
CONFIG_DRM=n
CONFIG_SOUND=n
CONFIG_WLAN=n
CONFIG_WIRELESS=n
CONFIG_CFG80211=n
CONFIG_USB_SUPPORT=n
CONFIG_NETFILTER=n
CONFIG_HID=n
CONFIG_WERROR=n
CONFIG_CONFIGFS_FS=y
CONFIG_NET=y
CONFIG_INET=y
CONFIG_VIRTIO_NET=y
CONFIG_INFINIBAND=y
CONFIG_INFINIBAND_USER_ACCESS=y
CONFIG_INFINIBAND_ADDR_TRANS=y
CONFIG_INFINIBAND_ADDR_TRANS_CONFIGFS=y
CONFIG_RDMA_RXE=y
CONFIG_CRYPTO_CRC32=y
CONFIG_CRYPTO_HMAC=y
CONFIG_CRYPTO_SHA256=y
'

key=$( { stat -c '%s-%Y' "$tarball"; printf '%s' "$fragment"; } | sha256sum | cut -c1-16)
cache=${ACL_SHARE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/acl_share}
tree=$cache/debug-kernel-$key
image=$tree/arch/x86/boot/bzImage

# External modules link against the tree's Module.symvers; only vmlinux's
# symbols are needed (modules_prepare does not write it, the vmlinux link
# writes vmlinux.symvers).
symvers() {
	[[ -f $tree/Module.symvers ]] || cp "$tree/vmlinux.symvers" "$tree/Module.symvers"
}

if [[ -f $tree/.acl_share_done && -f $image ]]; then
	symvers
	echo "KERNEL_IMAGE=$image"
	echo "KDIR=$tree"
	exit 0
fi

for tool in flex bison bc; do
	command -v $tool >/dev/null || { echo "build-debug-kernel: $tool missing (bash tools/install-deps.sh)" >&2; exit 1; }
done

log=$cache/debug-kernel-$key.log
echo "build-debug-kernel: building the debug kernel once into $tree (about 11 min on 2 cores); log: $log" >&2
mkdir -p "$cache"
# An unfinished tree (no .acl_share_done) is thrown away and built again.
rm -rf "$tree"
mkdir -p "$tree"
tar -xJf "$tarball" -C "$tree" --strip-components=1
(
	cd "$tree"
	printf '%s\n' "$fragment" > acl_share_debug.config
	make -s defconfig kvm_guest.config
	scripts/kconfig/merge_config.sh -m .config acl_share_debug.config >/dev/null
	make -s olddefconfig
	# Every option of the fragment must have survived olddefconfig.
	missing=0
	while IFS= read -r opt; do
		[[ -z $opt ]] && continue
		name=${opt%%=*} val=${opt#*=}
		if [[ $val == n ]]; then
			grep -q "^$name=" .config && { echo "build-debug-kernel: $name still set" >&2; missing=1; }
		else
			grep -qx "$opt" .config || { echo "build-debug-kernel: $opt did not stick" >&2; missing=1; }
		fi
	done <<< "$fragment"
	[[ $missing == 0 ]] || exit 1
	make -s -j"${JOBS:-$(nproc)}" bzImage modules_prepare
) > "$log" 2>&1 || { echo "build-debug-kernel: build failed; last lines of $log:" >&2; tail -30 "$log" >&2; exit 1; }
symvers
touch "$tree/.acl_share_done"
echo "KERNEL_IMAGE=$image"
echo "KDIR=$tree"
