#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test.sh - build everything and run all tests, in two legs. Works on a fresh Debian 12
# machine.
#   stock: the selftests in a VM booting Debian's own kernel (build/);
#   debug: the same selftests plus the fault-injection sweep on a debug kernel (KASAN,
#          lockdep, kmemleak, fault injection) built once from Debian's linux-source-6.1
#          and cached (tools/build-debug-kernel.sh: ~11 min the first time), with a
#          kmemleak scan at the end (build-debug/).
# The last line of output is "N passed, N failed" over both legs: the selftests' results
# counted by the VM runner, plus one per other meson test. Exit status 0 only if nothing
# failed.
#
#   tools/test.sh           both legs (what CI runs)
#   tools/test.sh --stock   the stock leg only (a quick check while developing)
#
# Environment: BUILD_DIR (default: build; the debug leg uses $BUILD_DIR-debug),
# MESON_SETUP_ARGS (extra `meson setup` options for both legs, e.g. "-Dvm_timeout=1800").
set -euo pipefail

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
legs=(stock debug)
case ${1:-} in
--stock) legs=(stock) ;;
'') ;;
*) echo "usage: $0 [--stock]" >&2; exit 2 ;;
esac

summary_fail() { # a failure before the tests could report: still end with the summary line
	echo "test.sh: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

bash tools/install-deps.sh || summary_fail "installing dependencies failed"

# run_leg BUILD_DIR [meson setup options...]: build and test one leg; never exits.
logs=()
run_leg() {
	local dir=$1
	shift
	if [[ ! -f $dir/build.ninja ]]; then
		# shellcheck disable=SC2086 # MESON_SETUP_ARGS is a list of options
		meson setup "$dir" "$@" ${MESON_SETUP_ARGS:-} || { echo "test.sh: meson setup of $dir failed" >&2; return 1; }
	fi
	meson compile -C "$dir" || { echo "test.sh: the build in $dir failed" >&2; return 1; }
	logs+=("$dir/meson-logs/testlog.json")
	meson test -C "$dir" --print-errorlogs
}

rc=0
for leg in "${legs[@]}"; do
	echo "=== test.sh: $leg leg"
	case $leg in
	stock)
		run_leg "$build" || rc=1
		;;
	debug)
		if ! out=$(bash tools/build-debug-kernel.sh); then
			echo "test.sh: the debug kernel could not be built" >&2
			rc=1
			logs+=("(debug kernel)")
			continue
		fi
		image=$(sed -n 's/^KERNEL_IMAGE=//p' <<<"$out")
		kdir=$(sed -n 's/^KDIR=//p' <<<"$out")
		run_leg "$build-debug" -Dkdir="$kdir" -Dkernel_image="$image" -Ddebug_kernel=true \
			-Dvm_timeout=2400 || rc=1
		;;
	esac
done

# Count: the VM runner's own "N passed, N failed" for each vm-selftests*, one per other
# test; a leg that produced no test log counts as one failure.
python3 - "$rc" "${logs[@]}" <<'PY'
import json, re, sys
rc, logs = int(sys.argv[1]), sys.argv[2:]
passed = failed = 0
line_re = re.compile(r'^(\d+) passed, (\d+) failed$', re.M)
for jlog in logs:
    try:
        tests = [json.loads(l) for l in open(jlog) if l.strip()]
    except OSError:
        tests = []
    if not tests:
        failed += 1
        continue
    for t in tests:
        ok = t.get('result') in ('OK', 'EXPECTEDFAIL')
        m = line_re.findall(t.get('stdout') or '')
        if t.get('name', '').startswith('vm-selftests') and m:
            p, f = map(int, m[-1])
            passed += p
            failed += f
            if not ok and f == 0:   # e.g. killed by meson's own timeout
                failed += 1
            continue
        if ok:
            passed += 1
        else:
            failed += 1
if not logs:
    failed += 1
if rc != 0 and failed == 0:
    failed = 1
print(f'{passed} passed, {failed} failed')
sys.exit(1 if failed else 0)
PY
