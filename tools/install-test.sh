#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# install-test.sh - proves the install targets: `meson install --destdir DESTDIR` puts
# acl_share.ko in DESTDIR/lib/modules/<its kernel release>/extra, the public headers in
# DESTDIR<prefix>/include/acl, acl-shim.pc and libacl-shim.so/.a in DESTDIR<libdir>; and a C and a C++ program built with nothing but the
# installed headers and `pkg-config [--static] --cflags --libs acl-shim` compile, link
# (shared and static) and run: aclrtGetDeviceCount() returns ACL_ERROR_RT_NO_DEVICE
# (207004) on a host without /dev/acl_share (ACL_SUCCESS where the module is loaded).
#
#   install-test.sh BUILDDIR MODULE_KO
#
#   BUILDDIR   a configured and built meson build directory (installed with --no-rebuild:
#              `meson test` has built it; a rebuild here would race the other tests)
#   MODULE_KO  the acl_share.ko of that build (its vermagic gives the kernel release)
#
# Prints "ok N - ..." / "not ok N - ..." lines, then "N passed, N failed"; exit 0 only if
# all passed. The build's meson-logs/install-log.txt (what `ninja uninstall` removes) is
# restored afterwards. Environment: CC (default cc), CXX (default c++).

set -uo pipefail

prog=${0##*/}
if (($# != 2)); then
	echo "usage: $prog BUILDDIR MODULE_KO" >&2
	echo "0 passed, 1 failed"
	exit 2
fi
builddir=$1 module=$2
cc=${CC:-cc} cxx=${CXX:-c++}
srcdir=$(cd "$(dirname -- "$0")/.." && pwd)

# shellcheck source=tools/tap.sh
. "$(dirname -- "$0")/tap.sh"
abort() { # abort TITLE [DETAIL...]: a failure the rest cannot do without
	result FAIL "$@"
	finish
}

[[ -f $builddir/build.ninja ]] || abort "build directory $builddir is configured" "no build.ninja in $builddir"
[[ -f $module ]] || abort "module $module exists" "not found (was it built?)"
for t in meson pkg-config modinfo python3 "$cc" "$cxx"; do
	command -v "$t" >/dev/null || abort "$t is installed" "$t not found in PATH"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/install-test.XXXXXX") || abort "mktemp"
dest=$work/dest
ilog=$builddir/meson-logs/install-log.txt
had_ilog=0
if [[ -f $ilog ]]; then
	cp -p "$ilog" "$work/install-log.saved" && had_ilog=1
fi
# shellcheck disable=SC2317 # (called by the EXIT trap)
cleanup() {
	if ((had_ilog)); then
		cp -p "$work/install-log.saved" "$ilog"
	else
		rm -f "$ilog"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# ------------------------------------------------------------------ where things go
kver=$(modinfo -F vermagic "$module" 2>/dev/null | awk '{ print $1; exit }')
[[ -n $kver ]] || abort "the kernel release of $module" "modinfo -F vermagic printed nothing"

if ! opts=$(meson introspect --buildoptions "$builddir" 2>"$work/introspect.err"); then
	abort "meson introspect --buildoptions $builddir" "$(cat "$work/introspect.err")"
fi
# prefix, includedir, libdir: includedir and libdir are relative to prefix unless absolute.
read -r prefix includedir libdir < <(python3 -c '
import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
print(p, os.path.join(p, o["includedir"]), os.path.join(p, o["libdir"]))' <<<"$opts")
[[ $prefix == /* && -n $libdir ]] || abort "prefix, includedir and libdir of $builddir" "got '$prefix' '$includedir' '$libdir'"
echo "# kernel release $kver, prefix $prefix, includedir $includedir, libdir $libdir"

# ------------------------------------------------------------------ meson install
if meson install -C "$builddir" --no-rebuild --destdir "$dest" >"$work/install.log" 2>&1; then
	result OK "meson install --no-rebuild --destdir DESTDIR"
else
	abort "meson install --no-rebuild --destdir DESTDIR" "$(tail -n 20 "$work/install.log")"
fi

expect_file() { # expect_file TITLE PATH [SAME-AS]
	local title=$1 f=$2
	if [[ ! -f $f ]]; then
		result FAIL "$title" "${f#"$dest"} missing from DESTDIR; installed:" \
			"$(cd "$dest" && find . -type f -o -type l | sort)"
	elif [[ -n ${3:-} ]] && ! cmp -s "$f" "$3"; then
		result FAIL "$title" "${f#"$dest"} differs from $3"
	else
		result OK "$title"
	fi
}
expect_file "acl_share.ko in /lib/modules/$kver/extra" \
	"$dest/lib/modules/$kver/extra/acl_share.ko" "$module"
for h in acl.h acl_base.h acl_rt.h; do
	expect_file "acl/$h in $includedir/acl" "$dest$includedir/acl/$h" "$srcdir/include/acl/$h"
done
expect_file "acl-shim.pc in $libdir/pkgconfig" "$dest$libdir/pkgconfig/acl-shim.pc"
expect_file "libacl-shim.so in $libdir" "$dest$libdir/libacl-shim.so"
expect_file "libacl-shim.a in $libdir" "$dest$libdir/libacl-shim.a"

# ------------------------------------------------------------------ pkg-config
# Only the destdir's .pc (PKG_CONFIG_LIBDIR replaces the default search path, so an
# acl-shim.pc installed on this machine cannot stand in); the sysroot maps its paths
# into the destdir.
export PKG_CONFIG_LIBDIR=$dest$libdir/pkgconfig PKG_CONFIG_PATH=$dest$libdir/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$dest
pc_dyn=$(pkg-config --cflags --libs acl-shim 2>&1 | sed 's/ *$//')
pc_dyn_rc=$?
pc_static=$(pkg-config --static --cflags --libs acl-shim 2>&1 | sed 's/ *$//')
pc_static_rc=$?
if ((pc_dyn_rc != 0 || pc_static_rc != 0)); then
	abort "pkg-config finds acl-shim in DESTDIR" \
		"--cflags --libs: $pc_dyn" "--static --cflags --libs: $pc_static"
fi
# (A mismatch here is reported, and the consumers below still show what it breaks.)
if [[ " $pc_dyn " == *" -I$dest$includedir "* && " $pc_dyn " == *" -L$dest$libdir "* &&
	" $pc_dyn " == *" -lacl-shim "* && " $pc_static " == *" -lacl-shim "* ]]; then
	result OK "pkg-config acl-shim: $pc_dyn; --static: $pc_static"
else
	result FAIL "pkg-config acl-shim gives -I<includedir> -L<libdir> (in DESTDIR) -lacl-shim" \
		"--cflags --libs: $pc_dyn" "--static --cflags --libs: $pc_static"
fi

# ------------------------------------------------------------------ a consumer
cat >"$work/consumer.c" <<'EOF'
#include <stdio.h>
#include "acl/acl.h"

int main(void)
{
	uint32_t count = 0;
	aclError ret = aclrtGetDeviceCount(&count);

	printf("aclrtGetDeviceCount=%d count=%u no_device=%d\n", (int)ret, (unsigned int)count,
	       (int)ACL_ERROR_RT_NO_DEVICE);
	printf("message: %s\n", aclGetRecentErrMsg());
	return 0;
}
EOF
cat >"$work/consumer.cc" <<'EOF'
#include <cstdio>
#include "acl/acl.h"

int main()
{
	uint32_t count = 0;
	const aclError ret = aclrtGetDeviceCount(&count);

	std::printf("aclrtGetDeviceCount=%d count=%u no_device=%d\n", static_cast<int>(ret),
		    static_cast<unsigned int>(count), static_cast<int>(ACL_ERROR_RT_NO_DEVICE));
	std::printf("message: %s\n", aclGetRecentErrMsg());
	return 0;
}
EOF

if [[ -e /dev/acl_share ]]; then
	want=0 want_why="ACL_SUCCESS: /dev/acl_share exists on this host"
else
	want=207004 want_why="ACL_ERROR_RT_NO_DEVICE: no /dev/acl_share on this host"
fi

# build_and_run TITLE COMPILER SOURCE OUTPUT static|shared: compile and link with the
# pkg-config flags only, check what it is linked against, run it and check its result.
build_and_run() {
	local title=$1 compiler=$2 src=$3 exe=$4 kind=$5 flags deps log=$work/${4##*/}.log
	if [[ $kind == static ]]; then
		flags=$pc_static
	else
		flags=$pc_dyn
	fi
	local extra=()
	[[ $kind == static ]] && extra=(-static)
	# shellcheck disable=SC2086 # $flags is pkg-config's list of options
	if ! "$compiler" -Wall -Wextra -Werror "${extra[@]}" -o "$exe" "$src" $flags >"$log" 2>&1; then
		result FAIL "$title: compiles and links" "$compiler -Wall -Wextra -Werror ${extra[*]} -o $exe $src $flags:" "$(cat "$log")"
		return
	fi
	# The headers it compiled against are the destdir's.
	# shellcheck disable=SC2086
	deps=$("$compiler" -M "$src" $flags 2>&1 | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /acl\/acl/) print $i }')
	if [[ $deps != *"$dest$includedir/acl/acl.h"* ]] || grep -qv "^$dest" <<<"$deps"; then
		result FAIL "$title: uses the installed headers" "acl headers used: $deps"
		return
	fi
	local run_env=()
	if [[ $kind == static ]]; then
		local lddout
		lddout=$(LC_ALL=C ldd "$exe" 2>&1)
		if [[ $lddout != *"not a dynamic executable"* ]]; then
			result FAIL "$title: is statically linked" "$lddout"
			return
		fi
	else
		run_env=(LD_LIBRARY_PATH="$dest$libdir")
		local so
		so=$(env "${run_env[@]}" ldd "$exe" 2>&1 | awk '$1 ~ /^libacl-shim\.so/ { print $3 }')
		if [[ $so != "$dest$libdir/"* ]]; then
			result FAIL "$title: loads the installed libacl-shim.so" "$(env "${run_env[@]}" ldd "$exe" 2>&1)"
			return
		fi
	fi
	local outp rc
	outp=$(env "${run_env[@]}" "$exe" 2>&1)
	rc=$?
	if ((rc == 0)) && [[ $outp == *"aclrtGetDeviceCount=$want "*"no_device=207004"* ]]; then
		result OK "$title: aclrtGetDeviceCount() = $want ($want_why)"
	else
		result FAIL "$title: aclrtGetDeviceCount() = $want ($want_why)" "exit status $rc, output:" "$outp"
	fi
}

build_and_run "C, shared" "$cc" "$work/consumer.c" "$work/c-shared" shared
build_and_run "C, static" "$cc" "$work/consumer.c" "$work/c-static" static
build_and_run "C++, shared" "$cxx" "$work/consumer.cc" "$work/cxx-shared" shared
build_and_run "C++, static" "$cxx" "$work/consumer.cc" "$work/cxx-static" static

finish
