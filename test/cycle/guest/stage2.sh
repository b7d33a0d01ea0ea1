#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the second kernel in the cycles (test/cycle/): the capture kernel
# after a crash (it has /proc/vmcore), or the kernel a reboot bundle started.
# The bundle's command line carries purgatory_marker=ID. The lines for the
# host are "@@WORD ... UPTIME@@"; the verdicts are "@@PASS WHAT ...@@" and
# "@@FAIL WHAT ...@@". It powers off at the end either way. /bin/makedumpfile
# runs Debian's makedumpfile through its program interpreter.
export PATH=/bin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
say() { read -r up _ </proc/uptime; echo "@@$* $up@@"; }
say STAGE2
done_() { say DONE; poweroff -f; }

marker=$(sed -n 's/.*purgatory_marker=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$marker" ] || { say FAIL MARKER "no purgatory_marker= in /proc/cmdline: $(cat /proc/cmdline)"; done_; }

if [ ! -e /proc/vmcore ]; then
	# The reboot cycle: the command line the bundle set reached this kernel.
	if dmesg | grep -q "Kernel command line:.*purgatory_marker=$marker"; then
		say PASS REBOOT "$marker $(cat /proc/sys/kernel/osrelease)"
	else
		say FAIL REBOOT "$marker is in /proc/cmdline but not in the kernel's own log"
	fi
	done_
fi

say VMCORE "$(stat -c %s /proc/vmcore)"
if makedumpfile --dump-dmesg /proc/vmcore /tmp/dmesg.txt; then
	# The production kernel wrote "PURGATORY-MARKER ID" to /dev/kmsg just
	# before the crash: its log, read back from the dump, must hold it.
	line=$(grep -m 1 "PURGATORY-MARKER $marker" /tmp/dmesg.txt)
	if [ -n "$line" ]; then say PASS DMESG "$line"; else say FAIL DMESG "no PURGATORY-MARKER $marker in $(($(wc -l </tmp/dmesg.txt))) lines"; fi
else
	say FAIL DMESG "makedumpfile --dump-dmesg exited with $?"
fi
if makedumpfile -l -d 31 /proc/vmcore /tmp/dump; then
	say PASS DUMP "$(($(wc -c </tmp/dump)))"
else
	say FAIL DUMP "makedumpfile -l -d 31 exited with $?"
fi
done_
