#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# runner_test.sh - proves the VM runner's own failure rules (run-in-vm.sh), by running it
# on cases whose verdict is known:
#   - the VM cannot be started (kernel image or module missing, a file that is no kernel,
#     qemu missing from $QEMU or from PATH): the run fails loudly, never skips;
#   - BUG:, WARNING: and refcount_t: lines in the guest's kernel log fail the run although
#     every command passed (test and demo mode), and the report names the kernel log;
#   - a hung guest is killed after --timeout with "VM timed out" and a failing status;
#   - a guest that panics fails the run (truncated: no end marker);
#   - a kernel that dies before /init is booted a second time (a crash of the emulated boot
#     happens), and fails the run when it dies again;
#   - a failed insmod fails the run;
#   - controls: clean runs in test and demo mode pass (exit 0), and "WARNING:" printed by
#     a program (not logged by the kernel) does not fail a run. Without them the failures
#     above could be a runner that always fails.
#   - --servers 2 and 3 (the fabric test bed): each guest's module has its server_id, its
#     rxe0 port is ACTIVE and it pings every other server over the segment; results of all
#     servers are summed; a command failing on one server only fails the whole run; a
#     server that asks to be killed (ACL_VMRUN_KILL_ME) dies, the other goes on, and what
#     it printed before still counts.
#
#   runner_test.sh KERNEL_IMAGE MODULE_KO RUNNER TEST_BIN
#
#   KERNEL_IMAGE  the image the VM boots (e.g. /boot/vmlinuz-6.1.0-57-amd64)
#   MODULE_KO     acl_share.ko built for it
#   RUNNER        selftests/vm/run-in-vm.sh
#   TEST_BIN      a static kselftest-harness program that passes (e.g. selftests/layout_test)
#
# About 10 VM boots, one at a time, then 3 runs of 2, 2 and 3 guests at once (~3.5 min under
# TCG on 2 quiet cores). Prints "ok N - ..." / "not ok N -
# ..." per case (with the runner's output on failure), then "N passed, N failed"; exit 0
# only if every case passed. Missing inputs fail (a test that cannot get its VM fails).
# Environment: QEMU, as for the runner (the qemu-missing cases override it).

set -uo pipefail

prog=${0##*/}
if (($# != 4)); then
	echo "usage: $prog KERNEL_IMAGE MODULE_KO RUNNER TEST_BIN" >&2
	echo "0 passed, 1 failed"
	exit 2
fi
kernel=$1 module=$2 runner=$3 testbin=$4

passed=0 failed=0 n=0
bad_inputs=()
[[ -f $kernel && -r $kernel ]] || bad_inputs+=("kernel image $kernel not found")
[[ -f $module && -r $module ]] || bad_inputs+=("module $module not found")
[[ -f $runner && -x $runner ]] || bad_inputs+=("runner $runner not found or not executable")
[[ -f $testbin && -x $testbin ]] || bad_inputs+=("test program $testbin not found or not executable")
if ((${#bad_inputs[@]})); then
	printf '%s: FAILED: %s\n' "$prog" "${bad_inputs[@]}" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
runner=$(realpath -- "$runner")

work=$(mktemp -d "${TMPDIR:-/tmp}/runner_test.XXXXXX") || {
	echo "$prog: FAILED: mktemp" >&2
	echo "0 passed, 1 failed"
	exit 1
}
trap 'rm -rf "$work"' EXIT
mkdir "$work/empty-path"

# A tag no boot message can contain by chance: the injected lines carry it.
tag="runner_test-$$-$RANDOM"

# ------------------------------------------------------------------ helpers
# vm CASE GUARD_S [ENV-ARGS...] -- RUNNER-ARGS...: run the runner (through env(1) with
# ENV-ARGS, e.g. -u QEMU PATH=...), killing it after GUARD_S seconds should it hang
# itself. Sets rc, secs, out (its stdout file), err (its stderr file).
rc=0 secs=0 out='' err=''
vm() {
	local name=$1 guard=$2 envs=()
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	out=$work/$name.out err=$work/$name.err
	local t0=$SECONDS
	timeout -k 10 "$guard" env "${envs[@]}" "$runner" "$@" >"$out" 2>"$err" </dev/null
	rc=$?
	secs=$((SECONDS - t0))
	if ((rc == 124 || rc == 137)); then
		why+=("the runner itself did not finish within $guard s (killed by $prog)")
	fi
}

why=()
# check DESCRIPTION COMMAND...: DESCRIPTION is a reason for failing the case unless
# COMMAND succeeds.
check() {
	local d=$1
	shift
	"$@" || why+=("$d")
}
rc_is() { ((rc == $1)); }
last_line_is() { [[ $(tail -n 1 "$out") == "$1" ]]; }
last_line_matches() { [[ $(tail -n 1 "$out") =~ $1 ]]; }
out_has() { grep -qE -- "$1" "$out"; }
err_has() { grep -qE -- "$1" "$err"; }
out_has_fixed() { grep -qF -- "$1" "$out"; }
err_has_fixed() { grep -qF -- "$1" "$err"; }
no_boot() { ((secs < 10)); }

# case_end TITLE: one result line; on failure, the reasons and the runner's output.
case_end() {
	n=$((n + 1))
	if ((${#why[@]} == 0)); then
		echo "ok $n - $1 (${secs} s)"
		passed=$((passed + 1))
	else
		echo "not ok $n - $1 (${secs} s)"
		printf '#   expected: %s\n' "${why[@]}"
		echo "#   runner exit status $rc after $secs s; its stdout (last 30 lines):"
		tail -n 30 "$out" | sed 's/^/#   | /'
		echo "#   its stderr (last 15 lines):"
		tail -n 15 "$err" | sed 's/^/#   | /'
		failed=$((failed + 1))
	fi
	why=()
}

base=(--kernel "$kernel" --module "$module")
esc_tag=${tag//./\\.}

# kmsg_case NAME MODE LINE TITLE: a command that passes but writes LINE (which must
# carry $tag) to the kernel log; the run must fail on the kernel log, and name it.
kmsg_case() {
	local name=$1 mode=$2 line=$3 title=$4 prefix=${3%%:*}
	local script="echo '$line' > /dev/kmsg && echo 'injected into the kernel log'"
	if [[ $mode == test ]]; then
		script+=" && echo 1..1 && echo 'ok 1 injected'"
	fi
	vm "$name" 300 -- "${base[@]}" --mode "$mode" --timeout 240 -- sh -c "$script"
	check "exit status 1 (got $rc)" rc_is 1
	check "the command itself succeeded (its 'exit status 0' line)" \
		out_has '^=== \[1/1\] sh .*: exit status 0 after [0-9]+ s$'
	check "the failure 'kernel-log: the guest kernel log has errors'" \
		out_has_fixed '  - kernel-log: the guest kernel log has errors'
	check "the injected $prefix: line listed among the kernel log errors" \
		out_has "^  \[ *[0-9]+\.[0-9]+\] $prefix: .*$esc_tag"
	if [[ $mode == test ]]; then
		check "last line '1 passed, 1 failed' (the test passed, the kernel log failed)" \
			last_line_is '1 passed, 1 failed'
	fi
	case_end "$title"
}

# ------------------------------------------------------------------ the VM cannot start
vm missing-kernel 60 -- --kernel "$work/no-such-vmlinuz" --module "$module" --mode test -- true
check "exit status 1 (got $rc)" rc_is 1
check "last line '0 passed, 1 failed'" last_line_is '0 passed, 1 failed'
check "an error naming the missing kernel image" \
	err_has_fixed "FAILED: kernel image $work/no-such-vmlinuz not found"
check "no VM boot attempted" no_boot
case_end "missing kernel image fails the run (test mode)"

vm missing-kernel-demo 60 -- --kernel "$work/no-such-vmlinuz" --module "$module" --mode demo -- true
check "exit status 1 (got $rc)" rc_is 1
check "an error naming the missing kernel image" \
	err_has_fixed "FAILED: kernel image $work/no-such-vmlinuz not found"
case_end "missing kernel image fails the run (demo mode)"

: >"$work/empty-vmlinuz"
vm not-a-kernel 60 -- --kernel "$work/empty-vmlinuz" --module "$module" --mode test -- true
check "exit status 1 (got $rc)" rc_is 1
check "last line '0 passed, N failed' with N > 0" last_line_matches '^0 passed, [1-9][0-9]* failed$'
check "the failure 'vm: qemu exited with status N'" out_has '  - vm: qemu exited with status [1-9]'
case_end "a kernel image that is no kernel (empty file) fails the run"

vm missing-module 60 -- --kernel "$kernel" --module "$work/no-such.ko" --mode test -- true
check "exit status 1 (got $rc)" rc_is 1
check "last line '0 passed, 1 failed'" last_line_is '0 passed, 1 failed'
check "an error naming the missing module" err_has_fixed "FAILED: module $work/no-such.ko not found"
case_end "missing module fails the run"

vm qemu-var-missing 60 QEMU="$work/no-such-qemu-system-x86_64" -- "${base[@]}" --mode test -- true
check "exit status 1 (got $rc)" rc_is 1
check "last line '0 passed, 1 failed'" last_line_is '0 passed, 1 failed'
check "an error naming the missing qemu" \
	err_has_fixed "FAILED: $work/no-such-qemu-system-x86_64 not found"
case_end "qemu missing (QEMU=a path that does not exist) fails the run"

# The runner looks qemu-system-x86_64 up in PATH unless QEMU is set; it needs nothing
# from PATH before that check, so an empty PATH isolates it.
vm qemu-path-missing 60 -u QEMU PATH="$work/empty-path" -- "${base[@]}" --mode test -- true
check "exit status 1 (got $rc)" rc_is 1
check "last line '0 passed, 1 failed'" last_line_is '0 passed, 1 failed'
check "an error naming qemu-system-x86_64" err_has_fixed "FAILED: qemu-system-x86_64 not found"
case_end "qemu missing (not in PATH, QEMU unset) fails the run"

# ------------------------------------------------------------------ controls (boot)
vm control-test 300 -- "${base[@]}" --mode test --timeout 240 --run "$testbin" -- \
	sh -c 'echo "WARNING: printed by a program, not logged by the kernel"; echo 1..1; echo "ok 1 clean"'
control_secs=$secs
check "exit status 0 (got $rc)" rc_is 0
check "last line 'N passed, 0 failed' with N >= 2" last_line_matches '^([2-9]|[1-9][0-9]+) passed, 0 failed$'
check "'=== no failures'" out_has '^=== no failures$'
case_end "control: a clean run in test mode passes (stdout 'WARNING:' is no kernel log)"

vm control-demo 300 -- "${base[@]}" --mode demo --timeout 240 -- true
check "exit status 0 (got $rc)" rc_is 0
check "'=== no failures'" out_has '^=== no failures$'
check "the command ran ('=== [1/1] true: exit status 0')" out_has '^=== \[1/1\] true: exit status 0 after [0-9]+ s$'
case_end "control: a clean run in demo mode passes"

# ------------------------------------------------------------------ the kernel log
kmsg_case kmsg-warning test "WARNING: CPU: 0 PID: 1 at drivers/acl/inject.c:1 $tag" \
	"a WARNING: line in the kernel log fails a passing test run"
kmsg_case kmsg-bug demo "BUG: kernel NULL pointer dereference, address: 0000000000000000 $tag" \
	"a BUG: line in the kernel log fails a succeeding demo run"
kmsg_case kmsg-refcount test "refcount_t: underflow; use-after-free. $tag" \
	"a refcount_t: line in the kernel log fails a passing test run"

# ------------------------------------------------------------------ a failed insmod
vm insmod-fails 300 -- "${base[@]}" --mode demo --timeout 240 --insmod-args device_count=not-a-number -- true
check "exit status 1 (got $rc)" rc_is 1
check "the failure 'insmod: loading acl_share.ko failed'" \
	out_has_fixed '  - insmod: loading acl_share.ko failed'
case_end "a failed insmod fails the run"

# ------------------------------------------------------------------ a panicking guest
vm panic 300 -- "${base[@]}" --mode demo --timeout 240 -- sh -c 'echo c > /proc/sysrq-trigger'
check "exit status 1 (got $rc)" rc_is 1
check "the failure 'vm: the run is truncated'" out_has '  - vm: the run is truncated'
check "the command reported as not finished" out_has '  - sh .*: did not finish'
case_end "a guest that panics fails the run"

# ------------------------------------------------------------------ a death before /init
# No /init to run: the kernel panics before anything of ours ran, twice.
vm noinit 300 -- "${base[@]}" --mode demo --timeout 240 --append "rdinit=/nonexistent init=/nonexistent" -- true
check "exit status 1 (got $rc)" rc_is 1
check "the failure 'vm: the guest never reached /init'" \
	out_has_fixed '  - vm: the guest never reached /init'
check "booted a second time, and said so" \
	err_has 'crashed before /init, before anything of ours ran'
case_end "a kernel that dies before /init is booted twice, then fails the run"

# ------------------------------------------------------------------ a hang before /init
# PID 1 is busybox sleep, not /init: the boot never gets to /init's first line, as a
# kernel stuck in its boot (the runner cannot tell the two apart, and need not).
vm boot-hang 300 -- "${base[@]}" --mode demo --timeout 240 --boot-limit 8 \
	--append "rdinit=/bin/busybox sleep 1000" -- true
check "exit status 1 (got $rc)" rc_is 1
check "booted a second time, and said so" err_has_fixed 'hung before /init (not reached within 8 s)'
check "the failure 'vm: the kernel hung before /init twice'" \
	out_has_fixed '  - vm: the kernel hung before /init twice (not reached within 8 s)'
check "both boots killed, not left to --timeout (took $secs s)" test "$secs" -le 90
case_end "a kernel that hangs before /init is killed after --boot-limit, booted twice, then fails the run"

# ------------------------------------------------------------------ a hung guest
# 25 s, or more if this machine boots slower (e.g. a debug kernel): the guest must reach
# the hanging command before the timeout, or this would only prove a timed-out boot.
hang_t=25
((control_secs + 15 > hang_t)) && hang_t=$((control_secs + 15))
vm hang $((hang_t + 60)) -- "${base[@]}" --mode test --timeout "$hang_t" -- sleep 600
check "exit status 1 (got $rc)" rc_is 1
check "killed within $((hang_t + 15)) s (took $secs s)" test "$secs" -le $((hang_t + 15))
check "the hanging command had started ('=== [1/1] sleep 600')" out_has '^=== \[1/1\] sleep 600$'
check "a message 'VM timed out after $hang_t s' on stderr" err_has_fixed "VM timed out after $hang_t s"
check "the failure 'vm: VM timed out after $hang_t s'" out_has_fixed "  - vm: VM timed out after $hang_t s"
check "last line '0 passed, N failed' with N > 0" last_line_matches '^0 passed, [1-9][0-9]* failed$'
case_end "a hung guest is killed after --timeout $hang_t with a failing status"

# ------------------------------------------------------------------ --servers (the fabric test bed)
# One server's view of the fabric, as TAP: its module's server_id, its rxe0 port, pings
# to every other server over the segment.
cat >"$work/fabric-check" <<'EOF'
#!/bin/sh
echo 1..3
id=$(cat /sys/module/acl_share/parameters/server_id)
if [ "$id" = "$ACL_SERVER_ID" ]; then
	echo "ok 1 server_id $id"
else
	echo "not ok 1 server_id $id, ACL_SERVER_ID $ACL_SERVER_ID"
fi
st=$(cat /sys/class/infiniband/rxe0/ports/1/state)
case $st in
*ACTIVE) echo "ok 2 rxe0 port 1 $st" ;;
*) echo "not ok 2 rxe0 port 1 $st" ;;
esac
bad=''
for ip in $ACL_SERVER_IPS; do
	[ "$ip" = "$ACL_SERVER_IP" ] && continue
	ping -c 2 -W 5 "$ip" >/dev/null || bad="$bad $ip"
done
if [ -z "$bad" ]; then
	echo "ok 3 server $id of $ACL_SERVERS ($ACL_SERVER_IP) pings $ACL_SERVER_IPS"
else
	echo "not ok 3 server $id: no ping reply from$bad"
fi
EOF
chmod 755 "$work/fabric-check"

# servers_case N: --servers N runs fabric-check on every server.
servers_case() {
	local ns=$1 i ips=''
	for ((i = 0; i < ns; i++)); do ips+="${ips:+ }10.77.0.$((i + 1))"; done
	vm "servers-$ns" 900 -- "${base[@]}" --mode test --timeout 600 --servers "$ns" -- "$work/fabric-check"
	check "exit status 0 (got $rc)" rc_is 0
	check "last line '$((3 * ns)) passed, 0 failed'" last_line_is "$((3 * ns)) passed, 0 failed"
	for ((i = 0; i < ns; i++)); do
		check "server $i: the fabric up ('[server $i] === fabric up: ... rxe0 port 1 4: ACTIVE')" \
			out_has "^\[server $i\] === fabric up: server $i of $ns, eth0 10\.77\.0\.$((i + 1))/24, rxe0 port 1 4: ACTIVE"
		check "server $i: its module's server_id is $i" out_has_fixed "[server $i] ok 1 server_id $i"
		check "server $i: rxe0 port 1 ACTIVE" out_has_fixed "[server $i] ok 2 rxe0 port 1 4: ACTIVE"
		check "server $i: pings every other server" \
			out_has_fixed "[server $i] ok 3 server $i of $ns (10.77.0.$((i + 1))) pings $ips"
	done
	case_end "--servers $ns: $ns guests, server_id 0..$((ns - 1)), rxe0 ACTIVE on each, all ping each other"
}
servers_case 2

# shellcheck disable=SC2016 # expanded in the guest
vm servers-one-fails 900 -- "${base[@]}" --mode test --timeout 600 --servers 2 -- \
	sh -c 'echo 1..1; echo "ok 1 ran on server $ACL_SERVER_ID"; [ "$ACL_SERVER_ID" != 1 ]'
check "exit status 1 (got $rc)" rc_is 1
check "last line '2 passed, 1 failed' (both servers' results summed)" last_line_is '2 passed, 1 failed'
check "the failure '  - server 1: sh ...: exit status 1 without a failing TAP line'" \
	out_has '^  - server 1: sh .*: exit status 1 without a failing TAP line$'
check "no failure of server 0" bash -c "! grep -q '^  - server 0:' '$out'"
case_end "--servers 2: a command that fails on server 1 only fails the run"

# kill_case NAME RESULT: once server 0's command runs, server 1 prints "RESULT 1 ..."
# then asks to be killed (ACL_VMRUN_KILL_ME); server 0 waits until server 1 stops
# answering pings.
kill_case() {
	local name=$1 result=$2
	# shellcheck disable=SC2016 # expanded in the guest
	vm "$name" 900 -- "${base[@]}" --mode test --timeout 600 --servers 2 -- sh -c '
		echo 1..1
		[ "$ACL_SERVER_ID" = 0 ] && touch /srv/fabric/started
		if [ "$ACL_SERVER_ID" = 1 ]; then
			until printf "GET /started HTTP/1.0\r\n\r\n" | nc -w 3 10.77.0.1 7077 |
				head -n 1 | grep -q " 200 "; do
				sleep 0.3
			done
			echo "'"$result"' 1 server 1 before its kill"
			echo "$ACL_VMRUN_KILL_ME"
			sleep 600
			echo "ok 2 server 1 was not killed"
		fi
		while ping -c 1 -W 1 10.77.0.2 >/dev/null 2>&1; do sleep 0.5; done
		echo "ok 1 server 0 saw server 1 go"'
}
kill_case servers-kill ok
check "exit status 0 (got $rc)" rc_is 0
check "last line '2 passed, 0 failed' (server 1's result before the kill counts)" \
	last_line_is '2 passed, 0 failed'
check "server 1 killed on request" out_has_fixed '[server 1] === this server asked to be killed'
check "server 1 named as killed on its own request" out_has 'server 1\] killed on its own request'
check "server 1 never got past the kill" bash -c "! grep -q 'server 1 was not killed' '$out'"
case_end "--servers 2: a server that asks to be killed dies at once; the other goes on"

kill_case servers-kill-fail 'not ok'
check "exit status 1 (got $rc)" rc_is 1
check "last line '1 passed, 1 failed'" last_line_is '1 passed, 1 failed'
check "the failure '  - server 1: sh ...: server 1 before its kill'" \
	out_has '^  - server 1: sh .*: server 1 before its kill$'
case_end "--servers 2: a failure printed before a kill still fails the run"

servers_case 3

echo "1..$n"
echo "$passed passed, $failed failed"
((failed == 0))
