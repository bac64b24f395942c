#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test.sh - build everything and run all tests, one leg per kernel of the matrix. Works
# on a fresh Debian 12 machine.
#   stock:          the selftests in a VM booting Debian's own 6.1 kernel (build/), plus
#                   the host's own tests (lint, install, the VM runner's rules, the demo);
#   packages:       the Debian packages built, linted, installed on this machine, the
#                   DKMS-built module booted with the packaged programs, and purged
#                   (tools/package-test.sh, against the stock leg's kernel);
#   debug:          the same selftests plus the fault-injection sweep on a debug kernel
#                   (KASAN, lockdep, kmemleak, fault injection) built once from Debian's
#                   linux-source-6.1 and cached (tools/build-debug-kernel.sh: ~11 min the
#                   first time), with a kmemleak scan at the end (build-debug/);
#   x86_64-6.12, x86_64-6.12-rt, x86_64-5.10, arm64-6.1, arm64-6.12-16k:
#                   the selftests, the lint and the demo against Debian's other kernels
#                   (PREEMPT_RT; 16 KiB pages), downloaded (not installed) by
#                   tools/fetch-kernel.sh; the arm64 legs are cross-built
#                   (tools/cross/aarch64-linux-gnu.ini) and boot qemu-system-aarch64
#                   (build-LEG/).
# The summary at the end has a line "=== leg NAME: N passed, M failed (S s)" per leg, then
# "=== what failed (K):" with one line per failure (the VM runner's own names for it), so
# that the tail of a long log says what broke; the last line of output is "N passed, N
# failed" over all legs: the selftests' results counted by the VM runner, plus one per
# other meson test. Exit status 0 only if nothing failed.
#
#   tools/test.sh              every leg (what CI runs)
#   tools/test.sh --stock      the stock leg only (a quick check while developing)
#   tools/test.sh --leg NAME   that leg only (repeatable)
#
# Environment: BUILD_DIR (default: build; other legs use $BUILD_DIR-LEG),
# MESON_SETUP_ARGS (extra `meson setup` options for every leg, e.g. "-Dvm_timeout=1800").
set -euo pipefail

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
all_legs=(stock packages debug x86_64-6.12 x86_64-6.12-rt x86_64-5.10 arm64-6.1 arm64-6.12-16k)
legs=()
while (($#)); do
	case $1 in
	--stock) legs+=(stock); shift ;;
	--leg)
		[[ " ${all_legs[*]} " == *" ${2:-} "* ]] || { echo "$0: --leg: one of ${all_legs[*]}" >&2; exit 2; }
		legs+=("$2"); shift 2 ;;
	*) echo "usage: $0 [--stock] [--leg NAME]..." >&2; exit 2 ;;
	esac
done
((${#legs[@]})) || legs=("${all_legs[@]}")

summary_fail() { # a failure before the tests could report: still end with the summary line
	echo "test.sh: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

bash tools/install-deps.sh || summary_fail "installing dependencies failed"
echo "=== test.sh: dependencies installed in $SECONDS s"

# run_leg LEG BUILD_DIR [meson setup options...]: build and test one leg; never exits.
logs=()
run_leg() {
	local leg=$1 dir=$2
	shift 2
	logs+=("$leg=$dir/meson-logs/testlog.json")
	rm -f "$dir/meson-logs/testlog.json"
	if [[ ! -f $dir/build.ninja ]]; then
		# shellcheck disable=SC2086 # MESON_SETUP_ARGS is a list of options
		meson setup "$dir" -Dleg="$leg" "$@" ${MESON_SETUP_ARGS:-} || { echo "test.sh: meson setup of $dir failed" >&2; return 1; }
	fi
	meson compile -C "$dir" || { echo "test.sh: the build in $dir failed" >&2; return 1; }
	meson test -C "$dir" --print-errorlogs
}

kv() { sed -n "s/^$1=//p" <<<"$out"; } # a KEY=VALUE line of the kernel script's output

rc=0
starts=() # LEG=SECONDS: when each leg began; it lasts until the next one begins
for leg in "${legs[@]}"; do
	starts+=("$leg=$SECONDS")
	echo "=== test.sh: $leg leg"
	case $leg in
	stock)
		run_leg stock "$build" || rc=1
		;;
	packages)
		mkdir -p "$build"
		logs+=("packages=$build/package-test.log")
		rm -f "$build/package-test.log"
		kver=
		if kdir=$(bash tools/find-kdir.sh); then
			kver=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h")
		fi
		if [[ -z $kver ]]; then
			echo "test.sh: no kernel headers for the packages leg" >&2
			rc=1
			continue
		fi
		# DKMS builds for the matrix's other x86_64 kernels too (not 5.10: its headers
		# name gcc-10, which Debian 12 does not have; its leg builds with gcc-12).
		other=()
		for l in x86_64-6.12 x86_64-6.12-rt; do
			if out=$(bash tools/fetch-kernel.sh "$l"); then
				other+=("$(kv KDIR)")
			else
				echo "test.sh: the kernel of leg $l could not be downloaded" >&2
				rc=1
			fi
		done
		bash tools/package-test.sh "$kver" "/boot/vmlinuz-$kver" "${other[@]}" 2>&1 |
			tee "$build/package-test.log" || rc=1
		;;
	debug)
		if ! out=$(bash tools/build-debug-kernel.sh); then
			echo "test.sh: the debug kernel could not be built" >&2
			rc=1
			logs+=("debug=(the debug kernel could not be built)")
			continue
		fi
		run_leg debug "$build-debug" -Dkdir="$(kv KDIR)" -Dkernel_image="$(kv KERNEL_IMAGE)" -Ddebug_kernel=true \
			-Dvm_timeout=2400 || rc=1
		;;
	*)
		if ! out=$(bash tools/fetch-kernel.sh "$leg"); then
			echo "test.sh: the kernel of leg $leg could not be downloaded" >&2
			rc=1
			logs+=("$leg=(its kernel could not be downloaded)")
			continue
		fi
		opts=(-Dkdir="$(kv KDIR)" -Dkernel_image="$(kv KERNEL_IMAGE)")
		if [[ $(kv ARCH) == arm64 ]]; then
			# TCG emulating another ISA is about 2.5 times slower.
			opts+=(--cross-file tools/cross/aarch64-linux-gnu.ini
				-Dbusybox="$(kv BUSYBOX)" -Dvm_timeout=2400)
		fi
		run_leg "$leg" "$build-$leg" "${opts[@]}" || rc=1
		;;
	esac
done

# Count: the VM runner's own "N passed, N failed" for each vm-selftests* and vm-fabric*, one per other
# test; the packages leg's own last line; a leg that produced no test log counts as one
# failure.
STARTS="${starts[*]}" TOTAL_S=$SECONDS python3 - "$rc" "${logs[@]}" <<'PY'
import json, os, re, sys
rc, legs = int(sys.argv[1]), sys.argv[2:]
starts = [e.split('=', 1) for e in os.environ.get('STARTS', '').split()]
ends = [int(t) for _, t in starts[1:]] + [int(os.environ.get('TOTAL_S', 0))]
secs = {leg: end - int(t) for (leg, t), end in zip(starts, ends)}
passed = failed = 0
failures = []   # what failed, to be read at the end of a long log

def runner_failures(out):
    """The VM runner's own list: the "  - " lines after "=== FAILURES (N):"."""
    lines, on = [], False
    for l in out.splitlines():
        if l.startswith('=== FAILURES ('):
            on = True
        elif on and l.startswith('  - '):
            lines.append(l[4:])
        else:
            on = False
    return lines


line_re = re.compile(r'^(\d+) passed, (\d+) failed$', re.M)


def took(leg):
    return f' ({secs[leg]} s)' if leg in secs else ''


for entry in legs:
    leg, jlog = entry.split('=', 1)
    lp = lf = 0
    if not jlog.endswith('.json'):
        try:
            m = line_re.findall(open(jlog).read())
        except OSError:
            m = []
        lp, lf = map(int, m[-1]) if m else (0, 1)
        if lf:
            failures.append(f'{leg}: {jlog}' if jlog.startswith('(') else f'{leg}: see {jlog}')
        print(f'=== leg {leg}: {lp} passed, {lf} failed{took(leg)}')
        passed += lp
        failed += lf
        continue
    try:
        tests = [json.loads(l) for l in open(jlog) if l.strip()]
    except OSError:
        tests = []
    if not tests:
        lf += 1
        failures.append(f'{leg}: no test results ({jlog})')
    for t in tests:
        ok = t.get('result') in ('OK', 'EXPECTEDFAIL')
        name, out = t.get('name', ''), t.get('stdout') or ''
        m = line_re.findall(out)
        if not ok:
            what = runner_failures(out) or [f"{t.get('result')} after {t.get('duration', 0):.0f} s"]
            failures += [f'{leg}: {name}: {w}' for w in what]
        if name.startswith(('vm-selftests', 'vm-fabric')) and m:
            p, f = map(int, m[-1])
            lp += p
            lf += f
            if not ok and f == 0:   # e.g. killed by meson's own timeout
                lf += 1
            continue
        if ok:
            lp += 1
        else:
            lf += 1
    print(f'=== leg {leg}: {lp} passed, {lf} failed{took(leg)}')
    passed += lp
    failed += lf
if not legs:
    failed += 1
if rc != 0 and failed == 0:
    failed = 1
    failures.append('a step outside the tests failed (its message is in the log above)')
if failures:
    print(f'=== what failed ({len(failures)}):')
    for f in failures[:60]:
        print(f'  - {f}')
    if len(failures) > 60:
        print(f'  ... and {len(failures) - 60} more')
print(f"=== test.sh: {os.environ.get('TOTAL_S', '?')} s in all")
print(f'{passed} passed, {failed} failed')
sys.exit(1 if failed else 0)
PY
