#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-in-vm.sh - boot a throwaway VM with acl_share.ko loaded and run programs in it.
#
# The host kernel of our CI machines cannot load modules, so everything that needs the
# module runs here: an initramfs (busybox + the module + the programs) booted with
# qemu-system-x86_64 or qemu-system-aarch64 under TCG (never KVM: /dev/kvm hangs guests on our machines), one
# shot, powered off at the end. The guest boots with oops=panic: a kernel oops ends the
# run at once (with the oops on the console) instead of leaving a half-dead kernel.
#
# Usage:
#   run-in-vm.sh --kernel IMAGE --module KO --mode test|demo [options] [--run FILE]... [-- CMD...]
#
#   --kernel IMAGE     kernel image to boot (e.g. /boot/vmlinuz-6.1.0-56-amd64)
#   --arch x86_64|arm64  the guest's ISA (default x86_64); arm64 boots
#                      qemu-system-aarch64 -M virt -cpu max; the module, busybox and the
#                      programs must be built for it
#   --busybox FILE     a static busybox for the guest (default: the host's busybox)
#   --module KO        the module; it is at /lib/modules/acl_share.ko in the guest and
#                      insmod'ed before anything runs (a failed insmod fails the run)
#   --mode test|demo   test: the commands are kselftest-harness programs printing TAP;
#                      the run ends with the line "N passed, N failed".
#                      demo: the commands' output is shown verbatim; any non-zero exit fails.
#   --timeout SECONDS  kill a VM that has not powered off by then (default 900)
#   --boot-limit SECONDS
#                      a guest whose /init has not started by then is hung in its boot
#                      (seen under TCG on a loaded host: stuck after "tsc: Unable to
#                      calibrate against PIT"); it is killed and booted once more, and a
#                      second such boot fails the run (default 240)
#   --mem MiB          guest memory (default 1024)
#   --smp N            guest CPUs (default 2)
#   --insmod-args STR  module parameters for the first insmod (e.g. "device_count=4")
#   --bin FILE         copy FILE into the guest as /bin/<basename> (not run by itself)
#   --run FILE         copy FILE into the guest and run it without arguments
#   --log FILE         also keep the guest's console log in FILE
#   --append ARGS      more kernel command-line arguments
#   --env NAME=VALUE   export NAME=VALUE to the commands in the guest (repeatable)
#   --kmemleak         (a kernel with CONFIG_DEBUG_KMEMLEAK) forget the objects of the boot
#                      before loading the module, scan for leaks after the last command
#                      and fail the run (test "kmemleak") on any report
#   --servers N        (N = 2 or 3) boot N guests at once, the "servers" of a cluster: the
#                      same kernel, module and commands on each, guest i with module
#                      parameter server_id=i (after --insmod-args), a virtio NIC eth0 at
#                      10.77.0.<i+1>/24 on one Ethernet segment (qemu socket networking,
#                      multicast on loopback, a group and port of this run's own), the RDMA
#                      core and soft-RoCE (rdma_rxe) loaded from --modules-dir and rxe0 bound
#                      to eth0, its port 1 ACTIVE before anything runs. The commands see
#                      ACL_SERVER_ID=i, ACL_SERVERS=N, ACL_SERVER_IP (its own address) and
#                      ACL_SERVER_IPS (all addresses, in order of id, space separated). They
#                      start once every server is up (a barrier over HTTP, busybox httpd on
#                      port 7077, twice --boot-limit plus 60 s at most: a server that comes
#                      up too late runs no command), and no server powers off before every
#                      other one has finished its commands (or is gone). Output lines carry
#                      "[server i] "; failures are named "server i: ..."; test mode sums
#                      the results of all servers; any server's failure (a command, its
#                      kernel log, a guest that does not come up or power off, a fabric
#                      that does not come up) fails the run. --log FILE keeps FILE.server<i>.
#                      A command may have its own server killed, as a host that dies: it
#                      prints the value of $ACL_VMRUN_KILL_ME on a line of its own, and the
#                      runner kills that guest's qemu (SIGKILL) within a second. That
#                      server's commands from then on count neither as passed nor failed,
#                      its kernel log up to then is still checked (as shown on the
#                      console), and the others go on without it.
#   --modules-dir DIR  (--servers) the kernel's modules, DIR/kernel/... (default: the folder
#                      matching the image: /lib/modules/<release> for /boot/vmlinuz-<release>,
#                      X/lib/modules/<release> for X/boot/vmlinuz-<release>, as
#                      tools/fetch-kernel.sh unpacks them); dependencies are read with modinfo;
#                      "builtin": the kernel has all of them built in (the debug kernel)
#   --rdma FILE        (--servers) iproute2's rdma program for the guest, with its libraries
#                      (default: rdma from PATH, /usr/bin or /sbin; x86_64 guests only: an
#                      arm64 guest needs an arm64 one, e.g. from apt-get download iproute2:arm64)
#   --fabric-module KO (--servers) acl_share_fabric.ko: at /lib/modules/acl_share_fabric.ko
#                      in each guest (ACL_FABRIC_MODULE names it), insmod'ed after acl_share.ko
#                      with configfs mounted at /sys/kernel/config; a failed insmod fails
#                      the run (fabric)
#   -- CMD [ARG]... [--- CMD [ARG]...]...
#                      further commands, separated by "---", run in that order after the
#                      --run ones. A CMD that is an existing host file path is copied in
#                      like --bin and run as /bin/<basename>; otherwise CMD is looked up in
#                      the guest's PATH (busybox applets, /bin/<basename> of --bin files).
#
# Programs should be statically linked; for a dynamically linked one the libraries ldd
# lists are copied too. In the guest the commands run one after the other in /tmp as
# root, with proc, sysfs, devtmpfs, debugfs and a tmpfs /tmp mounted; a test may unload
# and reload the module (delete_module/finit_module with /lib/modules/acl_share.ko).
#
# Failure, in both modes, is also: qemu or the kernel image missing, the VM not powering
# off within --timeout ("VM timed out after N s"), the guest not reaching its end marker,
# and any of BUG:, WARNING:, Oops, general protection, KASAN, UBSAN, possible circular
# locking, lockdep, kmemleak, refcount_t:, Call Trace in the guest's kernel log (counted
# as one failed test named "kernel-log" in test mode).
#
# Test mode counts, across all programs: passed = "ok" lines without "# SKIP";
# failed = "not ok" lines + "ok ... # SKIP" lines (a skip is a failure in this project)
# + programs that exit non-zero without a "not ok" line + programs that print no TAP
# result + results missing from a program's "1..N" plan.
#
# Environment: QEMU (default qemu-system-x86_64, or -aarch64 with --arch arm64), VMRUN_KEEP=1 keeps the temporary
# directory (initramfs, console log) and prints its path.
#
# Exit status: 0 when everything passed, 1 on any failure, 2 on a usage error.

set -euo pipefail

prog=${0##*/}
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() { # usage [STATUS]: the header above; on stderr unless asked for with --help
	if [[ ${1:-2} == 0 ]]; then
		sed -n '4,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	else
		sed -n '4,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	fi
	exit "${1:-2}"
}

kernel='' module='' mode='' arch=x86_64 bb='' timeout_s=900 boot_limit=240 mem=1024 smp=2 insmod_args='' log_out='' kmemleak=0
servers=0 modules_dir='' rdma_bin='' fabric_module=''
extra_append=''
envs=()
bins=()        # host files copied to /bin
cmds=()        # one shell-quoted command line per entry
cmd_names=()   # a short name per command, for reports

shq() { # shell-quote each argument, joined by spaces
	local out='' a
	for a in "$@"; do
		out+="'${a//\'/\'\\\'\'}' "
	done
	printf '%s' "${out% }"
}

add_cmd() { # add_cmd WORD... : a command line to run in the guest
	local first=$1
	shift
	if [[ $first == */* && -f $first ]]; then
		bins+=("$first")
		first=/bin/${first##*/}
	fi
	cmds+=("$(shq "$first" "$@")")
	local name="${first##*/}${*:+ $*}"
	name=${name//$'\n'/ }
	((${#name} <= 60)) || name="${name:0:57}..."
	cmd_names+=("$name")
}

while (($#)); do
	case $1 in
	--kernel) kernel=${2?}; shift 2 ;;
	--module) module=${2?}; shift 2 ;;
	--arch) arch=${2?}; shift 2 ;;
	--busybox) bb=${2?}; shift 2 ;;
	--mode) mode=${2?}; shift 2 ;;
	--timeout) timeout_s=${2?}; shift 2 ;;
	--boot-limit) boot_limit=${2?}; shift 2 ;;
	--mem) mem=${2?}; shift 2 ;;
	--smp) smp=${2?}; shift 2 ;;
	--insmod-args) insmod_args=${2?}; shift 2 ;;
	--bin) bins+=("${2?}"); shift 2 ;;
	--run) [[ -f ${2?} ]] || die "--run $2: no such file"; add_cmd "$2"; shift 2 ;;
	--log) log_out=${2?}; shift 2 ;;
	--append) extra_append=${2?}; shift 2 ;;
	--kmemleak) kmemleak=1; shift ;;
	--servers) servers=${2?}; shift 2 ;;
	--modules-dir) modules_dir=${2?}; shift 2 ;;
	--rdma) rdma_bin=${2?}; shift 2 ;;
	--fabric-module) fabric_module=${2?}; shift 2 ;;
	--env)
		[[ ${2?} =~ ^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_.,:/+-]*$ ]] || die "--env $2: want NAME=VALUE (plain characters)"
		envs+=("$2"); shift 2 ;;
	-h|--help) usage 0 ;;
	--)
		shift
		cur=()
		for a in "$@" ---; do
			if [[ $a == --- ]]; then
				((${#cur[@]})) && add_cmd "${cur[@]}"
				cur=()
			else
				cur+=("$a")
			fi
		done
		set --
		;;
	*) echo "$prog: unknown argument: $1" >&2; usage ;;
	esac
done

[[ $mode == test || $mode == demo ]] || { echo "$prog: --mode must be test or demo" >&2; usage; }
[[ -n $kernel && -n $module ]] || { echo "$prog: --kernel and --module are required" >&2; usage; }
[[ $timeout_s =~ ^[0-9]+$ && $timeout_s -gt 0 ]] || die "--timeout must be a positive number of seconds"
[[ $boot_limit =~ ^[0-9]+$ && $boot_limit -gt 0 ]] || die "--boot-limit must be a positive number of seconds"
# how long a server waits for the others to come up: a hung boot and the one after it
ready_s=$((2 * boot_limit + 60))
[[ $servers == 0 || $servers == 2 || $servers == 3 ]] || { echo "$prog: --servers must be 2 or 3" >&2; usage; }
servers_insmod=''
# (expanded in the guest: each server's own id)
# shellcheck disable=SC2016
((servers == 0)) || servers_insmod=' server_id=$ACL_SERVER_ID'
case $arch in
x86_64)
	qemu=${QEMU:-qemu-system-x86_64} qemu_pkg=qemu-system-x86 console_dev=ttyS0
	machine_args=()
	;;
arm64)
	qemu=${QEMU:-qemu-system-aarch64} qemu_pkg=qemu-system-arm console_dev=ttyAMA0
	machine_args=(-M virt -cpu max,pauth-impdef=on)
	;;
*) echo "$prog: --arch must be x86_64 or arm64" >&2; usage ;;
esac
((${#cmds[@]})) || die "nothing to run (give --run FILE or -- CMD)"

fail_setup() { # a failure before any test could run: make it loud and countable
	echo "$prog: FAILED: $*" >&2
	if [[ $mode == test ]]; then
		echo "0 passed, 1 failed"
	fi
	exit 1
}

command -v "$qemu" >/dev/null 2>&1 || fail_setup "$qemu not found (install $qemu_pkg: bash tools/install-deps.sh)"
[[ -f $kernel && -r $kernel ]] || fail_setup "kernel image $kernel not found or not readable (install linux-image-amd64, or pass -Dkernel_image=)"
[[ -f $module && -r $module ]] || fail_setup "module $module not found (was it built?)"
[[ -n $bb ]] || bb=$(command -v busybox || true)
[[ -n $bb && -f $bb ]] || fail_setup "busybox${bb:+ $bb} not found (install busybox-static)"
if ldd "$bb" >/dev/null 2>&1; then
	fail_setup "$bb is dynamically linked; install busybox-static"
fi
for b in "${bins[@]}"; do
	[[ -f $b ]] || fail_setup "program $b not found"
done

# --servers: the kernel's own modules for the NIC and the RDMA stack, in load order
# (dependencies first, read with modinfo), and the rdma program that binds rxe to eth0.
fabric_mods=()  # module files, in load order
if ((servers)); then
	if [[ -z $modules_dir ]]; then
		krel=${kernel##*/vmlinuz-}
		kroot=${kernel%/boot/vmlinuz-*}
		[[ $kroot == "$kernel" ]] && kroot=''
		modules_dir=$kroot/lib/modules/$krel
	fi
	[[ $modules_dir == builtin || -d $modules_dir/kernel ]] ||
		fail_setup "modules of $kernel not found ($modules_dir/kernel; give --modules-dir)"
	modinfo_bin=$(command -v modinfo || true)
	[[ -n $modinfo_bin ]] || for m in /sbin/modinfo /usr/sbin/modinfo; do [[ -x $m ]] && modinfo_bin=$m; done
	[[ -n $modinfo_bin ]] || fail_setup "modinfo not found (install kmod)"
	if [[ -z $rdma_bin ]]; then
		[[ $arch == x86_64 ]] || fail_setup "--servers on $arch: give --rdma, an rdma program built for $arch"
		rdma_bin=$(command -v rdma || true)
		[[ -n $rdma_bin ]] || for m in /usr/bin/rdma /sbin/rdma /usr/sbin/rdma; do [[ -x $m ]] && rdma_bin=$m; done
	fi
	[[ -n $rdma_bin && -f $rdma_bin ]] || fail_setup "rdma program${rdma_bin:+ $rdma_bin} not found (install iproute2)"
	declare -A mod_file=() mod_seen=()
	[[ $modules_dir == builtin ]] || while IFS= read -r f; do
		n=${f##*/}; n=${n%%.ko*}; mod_file[${n//-/_}]=$f
	done < <(find "$modules_dir/kernel" -name '*.ko*')
	builtin=$(sed 's,.*/,,; s,\.ko.*,,; s,-,_,g' "$modules_dir/modules.builtin" 2>/dev/null || true)
	add_mod() { # add_mod NAME: NAME after its dependencies, unless built in or added already
		local n=${1//-/_} d
		[[ -z ${mod_seen[$n]:-} ]] || return 0
		mod_seen[$n]=1
		if [[ -z ${mod_file[$n]:-} ]]; then
			grep -qx "$n" <<<"$builtin" && return 0
			fail_setup "kernel module $n not found under $modules_dir/kernel (nor built in)"
		fi
		for d in $("$modinfo_bin" -F depends "${mod_file[$n]}" | tr ',' ' '); do
			add_mod "$d"
		done
		fabric_mods+=("${mod_file[$n]}")
	}
	# The NIC (virtio-net on PCI, for x86_64's pc and arm64's virt alike), soft-RoCE and the
	# connection managers the kernel RDMA code will use.
	# rxe computes its ICRC with the kernel's "crc32" shash, which it does not depend on by
	# symbol (the kernel would ask modprobe for it): crc32_generic provides it.
	[[ $modules_dir == builtin ]] || for m in virtio_pci virtio_net crc32_generic rdma_rxe ib_uverbs rdma_cm; do
		add_mod "$m"
	done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmrun.XXXXXX")
cleanup() {
	if [[ ${VMRUN_KEEP:-0} == 1 ]]; then
		echo "$prog: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- initramfs
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,tmp,etc,root}
cp "$bb" "$root/bin/busybox"
cp "$module" "$root/lib/modules/acl_share.ko"

copy_libs() { # copy the shared libraries a dynamic program needs, at their paths
	local f=$1 lib
	ldd "$f" >/dev/null 2>&1 || return 0 # static (ldd: "not a dynamic executable")
	for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
		[[ -f $lib ]] || continue
		mkdir -p "$root/${lib%/*}"
		cp -L "$lib" "$root/$lib"
	done
}
for b in "${bins[@]}"; do
	name=${b##*/}
	cp "$b" "$root/bin/$name"
	chmod 755 "$root/bin/$name"
	copy_libs "$b"
done
if ((servers)); then
	mkdir -p "$root/lib/modules/fabric" "$root/srv/fabric"
	: > "$root/lib/modules/fabric/order"
	for f in "${fabric_mods[@]}"; do
		n=${f##*/}; n=${n%%.ko*}
		case $f in # busybox insmod takes plain .ko files
		*.ko.xz) xz -dc "$f" ;;
		*.ko.zst) zstd -qdc "$f" ;;
		*.ko.gz) gzip -dc "$f" ;;
		*) cat "$f" ;;
		esac > "$root/lib/modules/fabric/$n.ko" || fail_setup "cannot unpack $f"
		echo "$n" >> "$root/lib/modules/fabric/order"
	done
	if [[ -n $fabric_module ]]; then
		cp "$fabric_module" "$root/lib/modules/acl_share_fabric.ko" ||
			fail_setup "--fabric-module $fabric_module: cannot copy"
	fi
	cp "$rdma_bin" "$root/bin/rdma"
	chmod 755 "$root/bin/rdma"
	copy_libs "$rdma_bin"
fi

# Unique markers, so nothing a program prints can be mistaken for them.
nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
M="@@vmrun-$nonce"

{
	cat <<EOF
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd 2>/dev/null
echo "$M:boot \$(uname -r) \$(nproc) cpus@@"
EOF
	if ((servers)); then
		# The server's identity comes from its kernel command line (acl_server=I): one
		# initramfs serves every guest.
		ips=''
		for ((i = 0; i < servers; i++)); do ips+="${ips:+ }10.77.0.$((i + 1))"; done
		cat <<EOF
for w in \$(cat /proc/cmdline); do case \$w in acl_server=*) ACL_SERVER_ID=\${w#acl_server=} ;; esac; done
export ACL_SERVER_ID ACL_SERVERS=$servers ACL_SERVER_IPS="$ips"
export ACL_VMRUN_KILL_ME="$M:kill-me@@"
export ACL_SERVER_IP=10.77.0.\$((ACL_SERVER_ID + 1))
uptime_s() { cut -d' ' -f1 /proc/uptime; }
for m in \$(cat /lib/modules/fabric/order); do
	insmod /lib/modules/fabric/\$m.ko || echo "$M:fabric-failed insmod \$m (status \$?)@@"
done
ip link set lo up
ip addr add \$ACL_SERVER_IP/24 dev eth0 || echo "$M:fabric-failed ip addr add \$ACL_SERVER_IP/24 dev eth0@@"
ip link set eth0 up || echo "$M:fabric-failed ip link set eth0 up@@"
n=0
rdma link add rxe0 type rxe netdev eth0 || { echo "$M:fabric-failed rdma link add rxe0 type rxe netdev eth0@@"; n=600; }
until grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null || [ \$n -ge 600 ]; do
	sleep 0.1; n=\$((n + 1))
done
st=\$(cat /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null || echo missing)
case \$st in
*ACTIVE*) echo "$M:fabric up server \$ACL_SERVER_ID of $servers, eth0 \$ACL_SERVER_IP/24, rxe0 port 1 \$st at \$(uptime_s) s@@" ;;
*) echo "$M:fabric-failed rxe0 port 1 state: \$st@@" ;;
esac
httpd -p 7077 -h /srv/fabric || echo "$M:fabric-failed httpd -p 7077@@"
# fabric_wait FILE LIMIT GONE_OK: until every other server serves FILE, LIMIT s at most;
# with GONE_OK a server that stops answering pings (powered off) counts as done. (nc, not
# wget: the static busybox's wget crashes in glibc's resolver.)
fabric_wait() {
	local f=\$1 limit=\$2 gone_ok=\$3 ip t0 now miss late=''
	t0=\$(uptime_s); t0=\${t0%.*}
	for ip in \$ACL_SERVER_IPS; do
		[ "\$ip" = "\$ACL_SERVER_IP" ] && continue
		miss=0
		until printf 'GET /%s HTTP/1.0\\r\\n\\r\\n' "\$f" | nc -w 3 "\$ip" 7077 2>/dev/null | head -n 1 | grep -q ' 200 '; do
			if [ \$gone_ok = 1 ]; then
				if ping -c 1 -W 2 "\$ip" >/dev/null 2>&1; then miss=0; else miss=\$((miss + 1)); fi
				[ \$miss -ge 5 ] && break
			fi
			now=\$(uptime_s)
			if [ \$((\${now%.*} - t0)) -ge \$limit ]; then late="\$late \$ip"; break; fi
			sleep 0.3
		done
	done
	[ -z "\$late" ] || { echo "$M:fabric-failed no '\$f' from\$late within \$limit s@@"; return 1; }
}
EOF
	fi
	if ((kmemleak)); then
		cat <<EOF
if echo clear > /sys/kernel/debug/kmemleak; then echo "$M:kmemleak on@@"; fi
EOF
	fi
	cat <<EOF
if insmod /lib/modules/acl_share.ko $insmod_args${servers_insmod:-}; then
	echo "$M:insmod ok@@"
else
	echo "$M:insmod failed \$?@@"
fi
cd /tmp
EOF
	for e in "${envs[@]}"; do
		echo "export $e"
	done
	if ((servers)); then
		if [[ -n $fabric_module ]]; then
			cat <<EOF
mount -t configfs configfs /sys/kernel/config 2>/dev/null
export ACL_FABRIC_MODULE=/lib/modules/acl_share_fabric.ko
insmod \$ACL_FABRIC_MODULE || echo "$M:fabric-failed insmod acl_share_fabric.ko (status \$?)@@"
EOF
		fi
		cat <<EOF
touch /srv/fabric/ready
fabric_ok=0
fabric_wait ready $ready_s 0 && fabric_ok=1 && echo "$M:fabric-ready all $servers servers up at \$(uptime_s) s@@"
# (given up: withdrawn, so that a server coming up later runs nothing alone either)
[ \$fabric_ok = 1 ] || rm -f /srv/fabric/ready
EOF
	fi
	for i in "${!cmds[@]}"; do
		# (with servers: only once every server is up; a command alone would only
		# wait on the missing ones)
		# shellcheck disable=SC2016 # the guest's shell expands it
		if ((servers)); then echo 'if [ $fabric_ok = 1 ]; then'; fi
		cat <<EOF
echo "$M:start $i@@"
${cmds[$i]} </dev/null
echo "$M:rc $i \$?@@"
EOF
		if ((servers)); then echo 'fi'; fi
	done
	if ((servers)); then
		# Stay up until every server has run its commands: a peer may still need us.
		# Then linger, for the others to see this one done.
		cat <<EOF
touch /srv/fabric/done
fabric_wait done 100000 1
echo "$M:fabric-done at \$(uptime_s) s@@"
sleep 2
EOF
	fi
	if ((kmemleak)); then
		# kmemleak reports objects unreferenced for at least 5 s: scan twice, apart.
		cat <<EOF
sleep 6; echo scan > /sys/kernel/debug/kmemleak; sleep 6; echo scan > /sys/kernel/debug/kmemleak
echo "$M:kmemleak-begin@@"
cat /sys/kernel/debug/kmemleak
echo "$M:kmemleak-end@@"
EOF
	fi
	cat <<EOF
echo "$M:dmesg-begin@@"
dmesg
echo "$M:dmesg-end@@"
echo "$M:end@@"
poweroff -f
EOF
} > "$root/init"
# A failed insmod is reported by the host side (the commands still run, so their output
# shows what a missing module does, but the run fails). oops=panic on the command line:
# an oops would otherwise leave a half-dead kernel that may hang the remaining tests; with
# it the guest panics, reboots, qemu (-no-reboot) exits and the missing end marker fails
# the run at once, with the oops on the console.
chmod 755 "$root/init"

initrd=$tmp/initrd.gz
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$initrd"

# ---------------------------------------------------------------- boot
console=$tmp/console.log
: > "$console"
start=$(date +%s)
if ((servers)); then
	echo "$prog: booting $servers servers: $kernel ($arch, tcg, ${mem} MiB, $smp cpus each, timeout ${timeout_s} s), mode $mode, ${#cmds[@]} command(s)"
else
	echo "$prog: booting $kernel ($arch, tcg, ${mem} MiB, $smp cpus, timeout ${timeout_s} s), mode $mode, ${#cmds[@]} command(s)"
fi

# Stream the console, without the markers and the dmesg dump, while keeping all of it.
# Line by line, as it comes: mawk (Debian's default awk) needs -W interactive for that.
awk_stream=(awk)
# (Not `awk -W version | grep -q`: under pipefail, grep's early exit makes
# awk die of SIGPIPE now and then, and the test reads "not mawk".)
if [[ $(awk -W version 2>&1) == *mawk* ]]; then
	awk_stream=(awk -W interactive)
fi
stream_filter() {
	# shellcheck disable=SC2016 # the awk program is meant literally
	VMRUN_NAMES=$(printf '%s\n' "${cmd_names[@]}") "${awk_stream[@]}" -v M="$M" '
		BEGIN { n = split(ENVIRON["VMRUN_NAMES"], nm, "\n") }
		index($0, M) > 1 { print substr($0, 1, index($0, M) - 1); fflush(); $0 = substr($0, index($0, M)) }
		index($0, M ":dmesg-begin@@") { quiet = 1; next }
		index($0, M ":dmesg-end@@") { quiet = 0; next }
		index($0, M ":start ") {
			s = $0; sub(".*" M ":start ", "", s); sub("@@.*", "", s)
			t0[s] = systime()
			printf "=== [%d/%d] %s\n", s + 1, n, nm[s + 1]; fflush(); next
		}
		index($0, M ":rc ") {
			s = $0; sub(".*" M ":rc ", "", s); sub("@@.*", "", s); split(s, a, " ")
			printf "=== [%d/%d] %s: exit status %s after %d s\n", a[1] + 1, n, nm[a[1] + 1], a[2], \
				(a[1] in t0) ? systime() - t0[a[1]] : 0; fflush(); next
		}
		index($0, M ":insmod ") {
			s = $0; sub(".*" M ":insmod ", "", s); sub("@@.*", "", s)
			if (s == "ok") print "=== acl_share.ko loaded"; else print "=== INSMOD FAILED (status " substr(s, 8) ")"
			fflush(); next
		}
		index($0, M ":boot ") {
			s = $0; sub(".*" M ":boot ", "", s); sub("@@.*", "", s)
			print "=== guest up: kernel " s; fflush(); next
		}
		index($0, M ":fabric up ") {
			s = $0; sub(".*" M ":fabric up ", "", s); sub("@@.*", "", s)
			print "=== fabric up: " s; fflush(); next
		}
		index($0, M ":fabric-failed ") {
			s = $0; sub(".*" M ":fabric-failed ", "", s); sub("@@.*", "", s)
			print "=== FABRIC FAILED: " s; fflush(); next
		}
		index($0, M ":fabric-ready ") {
			s = $0; sub(".*" M ":fabric-ready ", "", s); sub("@@.*", "", s)
			print "=== fabric ready: " s; fflush(); next
		}
		index($0, M ":fabric-done ") {
			s = $0; sub(".*" M ":fabric-done ", "", s); sub("@@.*", "", s)
			print "=== fabric: every server done " s; fflush(); next
		}
		index($0, M ":kill-me@@") {
			print "=== this server asked to be killed (as a host that dies): killing its qemu"
			fflush(); next
		}
		/reboot: Power down$/ { next }
		index($0, M ":end@@") { next }
		!quiet { print; fflush() }'
}

# Keep every line the kernel logs until the dump at the end (the default
# buffer wraps after a few hundred KiB of fault-injection messages), and let
# KASAN report every bad access, not only the first.
kernel_log_args="log_buf_len=16M kasan_multi_shot"
# Tests: warnings reach the console too, for runs that end before the dump.
# The demo is for people to read: errors only.
if [[ $mode == test ]]; then
	kernel_log_args+=" loglevel=5"
else
	kernel_log_args+=" loglevel=4"
fi

# One guest: $console, $qemu_err, $log_this (--log), $line_prefix (for each streamed line)
# and $guest_args (more qemu arguments) / $guest_append (more command line) say which.
# $pidfile is its qemu's pid; "$console.hung" says the last boot was killed as hung.
qemu_err=$tmp/qemu.err log_this=$log_out line_prefix='' guest_args=() guest_append='' pidfile=$tmp/qemu.pid
boot() { # [SECONDS]: the qemu's limit (default --timeout)
	local wd qemu_cmd=(timeout --foreground -k 10 "${1:-$timeout_s}" "$qemu" "${machine_args[@]}" -accel tcg -m "$mem"
		-smp "$smp" -display none -monitor none -no-reboot -nodefaults
		-chardev stdio,id=con,signal=off -serial chardev:con "${guest_args[@]}" -pidfile "$pidfile"
		-kernel "$kernel" -initrd "$initrd"
		-append "console=$console_dev quiet panic=-1 oops=panic rdinit=/init $kernel_log_args${extra_append:+ $extra_append}$guest_append")
	rm -f "$pidfile" "$console.hung"
	# The boot watchdog: /init not started within --boot-limit seconds is a hung boot.
	(
		exec </dev/null >/dev/null 2>&1
		for ((t = 0; t < boot_limit; t++)); do
			sleep 1
			grep -qF "$M:boot " "$console" && exit 0
		done
		# (marked first: boot() ends this watchdog as soon as qemu is gone; unmarked
		# again if there was no qemu to kill. TERM: qemu ends quietly, where KILL
		# would have bash report the pipeline killed.)
		touch "$console.hung"
		if ! pid=$(cat "$pidfile" 2>/dev/null) || ! kill -TERM "$pid"; then
			rm -f "$console.hung"
			exit 0
		fi
		sleep 5
		kill -KILL "$pid"
	) &
	wd=$!
	set +e
	if [[ -z $line_prefix ]]; then
		"${qemu_cmd[@]}" </dev/null 2>"$qemu_err" | sed -u 's/\r$//' | tee "$console" | stream_filter
	else
		"${qemu_cmd[@]}" </dev/null 2>"$qemu_err" | sed -u 's/\r$//' | tee "$console" | stream_filter |
			sed -u "s/^/$line_prefix/"
	fi
	qemu_rc=${PIPESTATUS[0]}
	kill "$wd" 2>/dev/null
	wait "$wd" 2>/dev/null
	set -e
}
boot_guest() { # boot, and once more after a crash or a hang before /init
	local what='' t0=$SECONDS left
	boot
	# A kernel that dies or hangs before /init has run nothing of ours (the module
	# is not loaded yet): a fault of the emulated boot itself (seen: an int3 oops in
	# PREEMPT_RT's early boot under TCG; a debug kernel stuck after "tsc: Unable to
	# calibrate against PIT" on a loaded host). Boot once more, and say so; a
	# second such boot fails the run as usual.
	if [[ -f $console.hung ]]; then
		what="hung before /init (not reached within $boot_limit s)"
	elif ((qemu_rc != 124 && qemu_rc != 137)) && ! grep -qF "$M:boot " "$console" &&
		grep -qE 'Kernel panic|Oops|BUG:' "$console"; then
		what="crashed before /init"
	fi
	if [[ -n $what ]]; then
		cp "$console" "$console.first-boot"
		echo "$prog: ${line_prefix}the kernel $what, before anything of ours ran (above); booting once more" >&2
		# (what is left of --timeout: the caller's own limit is --timeout and a margin)
		left=$((timeout_s - (SECONDS - t0)))
		boot $((left > 60 ? left : 60))
		{ echo "=== the first boot, which $what:"; cat "$console.first-boot"
		  echo "=== the second boot:"; cat "$console"; } >"$console.both"
		[[ -n $log_this ]] && cp "$console.both" "$log_this.both"
	fi
	[[ -n $log_this ]] && cp "$console" "$log_this"
	return 0
}

if ((servers == 0)); then
	boot_guest
else
	# One Ethernet segment: qemu's socket networking, UDP multicast on loopback, with a
	# group and a port of this run's own (parallel runs stay apart). Each guest also
	# receives its own frames back, which Linux drops.
	port=''
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Hanu 2>/dev/null | awk '{ print $4 }' | grep -q ":$p\$"; then port=$p; break; fi
	done
	[[ -n $port ]] || fail_setup "no free UDP port found for the servers' segment"
	group=230.77.$((RANDOM % 254 + 1)).$((RANDOM % 254 + 1))
	echo "$prog: segment: multicast $group:$port on 127.0.0.1; servers 10.77.0.1..$servers/24"
	pids=()
	for ((s = 0; s < servers; s++)); do
		(
			console=$tmp/console.$s qemu_err=$tmp/qemu.err.$s line_prefix="[server $s] "
			log_this=${log_out:+$log_out.server$s}
			guest_args=(-netdev "socket,id=n0,mcast=$group:$port,localaddr=127.0.0.1"
				-device "virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0$((s + 1)),romfile=")
			guest_append=" acl_server=$s"
			pidfile=$tmp/qemu.pid.$s
			: >"$console"
			# A command of this server may ask for its qemu to be killed (ACL_VMRUN_KILL_ME).
			(
				until [[ -f $tmp/qemu.rc.$s ]]; do
					if grep -qF "$M:kill-me@@" "$console" 2>/dev/null &&
						[[ -s $tmp/qemu.pid.$s ]]; then
						touch "$tmp/killed.$s"
						kill -KILL "$(cat "$tmp/qemu.pid.$s")" 2>/dev/null || true
						break
					fi
					sleep 0.2
				done
			) &
			watcher=$!
			boot_guest
			echo "$qemu_rc" >"$tmp/qemu.rc.$s"
			wait "$watcher" || true
		) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || true
	done
fi
elapsed=$(($(date +%s) - start))

# ---------------------------------------------------------------- verdict
failures=()   # names of failed tests/checks
passed=0

has_marker() { grep -qF "$M:$1" "$console"; }

# judge: the verdict on one guest, from $console, $qemu_rc, $qemu_err; adds to passed and
# failures (named "$pfx..."), prints its kernel log errors, kmemleak report ($label names
# the guest).
judge() {
	local n0=${#failures[@]} k i name out rc res nres nfail nskip r leaks klog bad killed=0 cut

	# Killed at its own command's request (ACL_VMRUN_KILL_ME): a host that died.
	if [[ -n $kill_flag && -f $kill_flag ]]; then
		killed=1
		echo "=== ${line_prefix}killed on its own request, as a host that dies; its commands from then on are not counted"
	fi
	if ((killed)); then
		:
	elif [[ -f $console.hung ]]; then
		failures+=("vm: the kernel hung before /init twice (not reached within $boot_limit s)")
		echo "$prog: ${line_prefix}the kernel hung before /init twice" >&2
	elif ((qemu_rc == 124 || qemu_rc == 137)); then
		failures+=("vm: VM timed out after $timeout_s s")
		echo "$prog: ${line_prefix}VM timed out after $timeout_s s (killed)" >&2
	elif ((qemu_rc != 0)); then
		failures+=("vm: qemu exited with status $qemu_rc")
		echo "$prog: ${line_prefix}qemu exited with status $qemu_rc:" >&2
		sed 's/^/  qemu: /' "$qemu_err" >&2
	fi
	if ! has_marker 'boot '; then
		failures+=("vm: the guest never reached /init")
	elif ! has_marker 'insmod ok@@'; then
		failures+=("insmod: loading acl_share.ko failed")
	fi

	if ((servers)); then
		while IFS= read -r r; do
			[[ -n $r ]] && failures+=("fabric: $r")
		done < <(sed -n "s/.*$M:fabric-failed \(.*\)@@.*/\1/p" "$console")
		if has_marker 'boot ' && ! has_marker 'fabric up ' && ! has_marker 'fabric-failed '; then
			failures+=("fabric: never came up")
		fi
	fi

	# Per-command output: the lines between its start and rc markers.
	for i in "${!cmds[@]}"; do
		name=${cmd_names[$i]}
		if ! has_marker "start $i@@"; then
			((killed)) || failures+=("$name: never ran")
			continue
		fi
		out=$(awk -v b="$M:start $i@@" -v e="$M:rc $i " '
			index($0, e) { if (on && index($0, e) > 1) print substr($0, 1, index($0, e) - 1); exit }
			on { print }
			index($0, b) { on = 1 }' "$console")
		rc=$(sed -n "s/.*$M:rc $i \([0-9]*\)@@.*/\1/p" "$console" | head -n1)
		cut=0
		if [[ -z $rc ]] && ((killed)); then
			cut=1	# it asked for the kill: what it printed until then still counts
		elif [[ -z $rc ]]; then
			failures+=("$name: did not finish (no exit status; guest died or hung)")
			continue
		fi
		if [[ $mode == demo ]]; then
			((cut || rc == 0)) || failures+=("$name: exit status $rc")
			continue
		fi
		# test mode: TAP. The 6.1 harness prints "ok N # SKIP reason" without the test name,
		# so remember the last "#  RUN  name ..." line.
		res=$(awk '
			/^#  RUN / { cur = $3 }
			/^[ \t]*(not )?ok [0-9]+/ {
				line = $0; sub(/^[ \t]*/, "", line)
				notok = (line ~ /^not ok/)
				t = line; sub(/^(not )?ok [0-9]+ ?/, "", t)
				skip = (t ~ /# *[Ss][Kk][Ii][Pp]/)
				nm = t; sub(/ *#.*/, "", nm); if (nm == "" || nm == "-") nm = cur
				if (notok) print "F " nm
				else if (skip) print "S " nm " (" t ")"
				else print "P " nm
				results++
			}
			/^1\.\.[0-9]+/ { plan = substr($0, 4) + 0; hasplan = 1 }
			END { if (hasplan && results < plan) print "M " (plan - results) }' <<<"$out")
		nres=0 nfail=0 nskip=0
		while IFS= read -r r; do
			[[ -n $r ]] || continue
			case ${r:0:1} in
			P) passed=$((passed + 1)); nres=$((nres + 1)) ;;
			F) failures+=("$name: ${r:2}"); nfail=$((nfail + 1)); nres=$((nres + 1)) ;;
			S) failures+=("$name: ${r:2} [skip counts as failure]"); nskip=$((nskip + 1)); nres=$((nres + 1)) ;;
			M) ((cut)) || { failures+=("$name: ${r:2} result(s) missing from its 1..N plan"); nfail=$((nfail + 1)); } ;;
			esac
		done <<<"$res"
		if ((cut)); then
			:
		elif ((nres == 0)); then
			failures+=("$name: printed no TAP results (exit status $rc)")
		elif ((rc != 0 && nfail == 0)) && ! ((rc == 4 && nskip > 0)); then
			# (4 is KSFT_SKIP: its skipped tests are already counted)
			failures+=("$name: exit status $rc without a failing TAP line")
		fi
	done

	if ! has_marker 'end@@'; then
		((qemu_rc == 124 || qemu_rc == 137)) || [[ -f $console.hung ]] ||
			failures+=("vm: the run is truncated (no end marker: the guest crashed or panicked)")
		((killed)) ||
			echo "$prog: ${line_prefix}the guest never reached the end of its run (its console is above)" >&2
	fi

	if ((kmemleak)); then
		if ! has_marker 'kmemleak on@@'; then
			failures+=("kmemleak: not available in this kernel (/sys/kernel/debug/kmemleak)")
		elif has_marker 'kmemleak-end@@'; then
			leaks=$(awk -v b="$M:kmemleak-begin@@" -v e="$M:kmemleak-end@@" 'index($0, e) { exit } on { print } index($0, b) { on = 1 }' "$console")
			if [[ -n $leaks ]]; then
				failures+=("kmemleak: suspected memory leaks")
				echo
				echo "=== kmemleak report$label:"
				head -n 200 <<<"$leaks" | sed 's/^/  | /'
			else
				echo "=== kmemleak$label: no leaks"
			fi
		fi
	fi

	# The kernel log. If dmesg was not dumped (truncated run), scan the whole console instead.
	if has_marker 'dmesg-end@@'; then
		klog=$(awk -v b="$M:dmesg-begin@@" -v e="$M:dmesg-end@@" 'index($0, e) { exit } on { print } index($0, b) { on = 1 }' "$console")
	else
		klog=$(grep -vF "$M" "$console" || true)
	fi
	bad_re='BUG:|WARNING:|Oops|general protection|KASAN|UBSAN|possible circular locking|lockdep|kmemleak|refcount_t:|Call Trace'
	# The debug kernel's own banners name these tools without reporting anything.
	benign_re='kmemleak: Kernel memory leak detector initialized|kmemleak: Automatic memory scanning thread|RCU lockdep checking is enabled'
	bad=$(grep -E "$bad_re" <<<"$klog" | grep -vE "$benign_re" || true)
	# A dump that lost its first line (the boot banner: "Linux version" on x86, "Booting
	# Linux on physical CPU" on arm64) may have lost a splat too.
	if has_marker 'dmesg-end@@' && ! head -n 1 <<<"$klog" | grep -qE 'Linux version|Booting Linux on physical CPU'; then
		failures+=("kernel-log: the kernel log wrapped; lines logged early in the run are lost")
	fi
	if [[ -n $bad ]]; then
		failures+=("kernel-log: the guest kernel log has errors")
		echo
		echo "=== kernel log errors$label:"
		# shellcheck disable=SC2001
		sed 's/^/  /' <<<"$bad"
		if has_marker 'dmesg-end@@'; then # (else it was on the console already)
			echo "=== in context$label:"
			# (awk, not head: under pipefail grep's SIGPIPE would end the runner here)
			grep -E -B2 -A25 "$bad_re" <<<"$klog" | awk 'NR <= 200 { print "  | " $0 }'
		fi
	fi
	for ((k = n0; k < ${#failures[@]}; k++)); do
		failures[k]="$pfx${failures[k]}"
	done
}

pfx='' label='' kill_flag=''
if ((servers == 0)); then
	judge
else
	for ((s = 0; s < servers; s++)); do
		console=$tmp/console.$s qemu_err=$tmp/qemu.err.$s line_prefix="[server $s] "
		pfx="server $s: " label=" (server $s)" kill_flag=$tmp/killed.$s
		qemu_rc=$(cat "$tmp/qemu.rc.$s" 2>/dev/null || echo 255)
		judge
	done
fi

echo
if ((servers)); then
	echo "=== $prog: guest run took ${elapsed} s ($servers servers, each boot + ${#cmds[@]} command(s))"
else
	echo "=== $prog: guest run took ${elapsed} s (boot + ${#cmds[@]} command(s))"
fi
if ((${#failures[@]})); then
	echo "=== FAILURES (${#failures[@]}):"
	printf '  - %s\n' "${failures[@]}"
else
	echo "=== no failures"
fi
if [[ $mode == test ]]; then
	echo "$passed passed, ${#failures[@]} failed"
fi
((${#failures[@]} == 0))
