#!/bin/sh
# Prints the build directory of the newest installed Debian kernel that has
# its headers installed (/lib/modules/<ver>/build), the default for -Dkdir.
for d in $(ls -d /lib/modules/*/build 2>/dev/null | sort -rV); do
	if [ -f "$d/Makefile" ]; then
		readlink -f "$d"
		exit 0
	fi
done
echo "find-kdir: no kernel headers under /lib/modules/*/build; install linux-headers-amd64 or pass -Dkdir=" >&2
exit 1
