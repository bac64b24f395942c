# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# tap.sh - the results of the host-side test scripts (install-test.sh, package-test.sh),
# sourced by them: "ok N - TITLE" / "not ok N - TITLE" lines with indented details, then
# "1..N" and "N passed, N failed". finish exits 0 only if something ran and nothing failed.

passed=0 failed=0 n=0
result() { # result OK|FAIL TITLE [DETAIL...]
	local st=$1 title=$2
	shift 2
	n=$((n + 1))
	if [[ $st == OK ]]; then
		echo "ok $n - $title"
		passed=$((passed + 1))
	else
		echo "not ok $n - $title"
		(($#)) && printf '%s\n' "$@" | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
}
finish() {
	echo "1..$n"
	echo "$passed passed, $failed failed"
	((failed == 0 && n > 0))
	exit
}
