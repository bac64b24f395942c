#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test.sh - build everything and run all tests; the selftests run in a VM with
# acl_share.ko loaded (selftests/vm/run-in-vm.sh). Works on a fresh Debian 12 machine.
# The last line of output is "N passed, N failed": the selftests' results counted by the
# VM runner, plus one per other meson test. Exit status 0 only if nothing failed.
#
# Environment: BUILD_DIR (default: build), MESON_SETUP_ARGS (extra `meson setup` options,
# e.g. "-Dvm_timeout=1800").
set -euo pipefail

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

summary_fail() { # a failure before the tests could report: still end with the summary line
	echo "test.sh: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

bash tools/install-deps.sh || summary_fail "installing dependencies failed"
if [[ ! -f $build/build.ninja ]]; then
	# shellcheck disable=SC2086 # MESON_SETUP_ARGS is a list of options
	meson setup "$build" ${MESON_SETUP_ARGS:-} || summary_fail "meson setup failed"
fi
meson compile -C "$build" || summary_fail "the build failed"

set +e
meson test -C "$build" --print-errorlogs
rc=$?
set -e

# Count: the VM runner's own "N passed, N failed" for vm-selftests, one per other test.
python3 - "$build/meson-logs/testlog.json" "$build/meson-logs/testlog.txt" "$rc" <<'PY'
import json, re, sys
jlog, tlog, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
passed = failed = 0
seen_vm = False
try:
    tests = [json.loads(l) for l in open(jlog) if l.strip()]
except OSError:
    tests = []
line_re = re.compile(r'^(\d+) passed, (\d+) failed$', re.M)
for t in tests:
    ok = t.get('result') in ('OK', 'EXPECTEDFAIL')
    m = line_re.findall(t.get('stdout') or '')
    if t.get('name') == 'vm-selftests':
        seen_vm = True
        if m:
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
if not seen_vm:
    # fall back on the text log (older meson) or count the whole run as one failure
    try:
        m = line_re.findall(open(tlog).read())
    except OSError:
        m = []
    if m:
        passed, failed = map(int, m[-1])
    else:
        failed += 1
if rc != 0 and failed == 0:
    failed = 1
print(f'{passed} passed, {failed} failed')
sys.exit(1 if failed else 0)
PY
