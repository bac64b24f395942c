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
#
#   runner_test.sh KERNEL_IMAGE MODULE_KO RUNNER TEST_BIN
#
#   KERNEL_IMAGE  the image the VM boots (e.g. /boot/vmlinuz-6.1.0-57-amd64)
#   MODULE_KO     acl_share.ko built for it
#   RUNNER        selftests/vm/run-in-vm.sh
#   TEST_BIN      a static kselftest-harness program that passes (e.g. selftests/layout_test)
#
# About 8 VM boots, one at a time (~1.5 min under TCG). Prints "ok N - ..." / "not ok N -
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
		out_has '^=== \[1/1\] sh .*: exit status 0$'
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
check "the command ran ('=== [1/1] true: exit status 0')" out_has '^=== \[1/1\] true: exit status 0$'
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

echo "1..$n"
echo "$passed passed, $failed failed"
((failed == 0))
