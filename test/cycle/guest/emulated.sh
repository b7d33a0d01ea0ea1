#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the emulated-kexec boots (test/cycle/emulated.test.ts): the kernel
# that `purgatory boot --qemu` started through our purgatory, from a reboot
# or a crash bundle. It reports what the kernel was given; the host compares
# it with the bundle. Nothing reads the console's input here, so it sends and
# never waits. Lines for the host are "@@WORD ... UPTIME@@" (as in agent.sh):
#
#   @@CMDLINE TEXT@@       /proc/cmdline
#   @@CPUS N@@             CPUs online
#   @@PROP NAME HEX@@      each property of /proc/device-tree/chosen, its bytes in hex
#   @@NOVMCORE@@           no /proc/vmcore, or
#   @@VMCORE SIZE@@        its size, then the frame "vmcore.head": /proc/vmcore
#                          up to the end of its note segment (agent.sh's frame,
#                          without the ACK)
#   @@DONE@@               then it powers off
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys # /proc/device-tree links into it
mount -t devtmpfs devtmpfs /dev
# Kernel messages would cut into the lines and the frame.
dmesg -n 1
say() { read -r up _ </proc/uptime; echo "@@$* $up@@"; }

say CMDLINE "$(cat /proc/cmdline)"
say CPUS "$(grep -c ^processor /proc/cpuinfo)"
for f in /proc/device-tree/chosen/*; do
	[ -f "$f" ] && say PROP "${f##*/}" "$(od -A n -t x1 -v "$f" | tr -d ' \n')"
done

# le FILE OFFSET WIDTH: the little-endian unsigned integer of WIDTH bytes at OFFSET.
le() {
	v=0
	s=1
	for b in $(od -A n -t u1 -v -j "$2" -N "$3" "$1"); do
		v=$((v + b * s))
		s=$((s * 256))
	done
	echo "$v"
}

# head_size: bytes of /proc/vmcore up to the end of its PT_NOTE segment (the
# capture kernel merges the crashed kernel's notes into one, after the headers).
head_size() {
	phoff=$(le /proc/vmcore 32 8)
	phnum=$(le /proc/vmcore 56 2)
	i=0
	while [ "$i" -lt "$phnum" ]; do
		ph=$((phoff + i * 56))
		if [ "$(le /proc/vmcore "$ph" 4)" -eq 4 ]; then # PT_NOTE
			echo $(($(le /proc/vmcore $((ph + 8)) 8) + $(le /proc/vmcore $((ph + 32)) 8)))
			return
		fi
		i=$((i + 1))
	done
	echo $((phoff + phnum * 56)) # no notes: the headers
}

if [ -e /proc/vmcore ]; then
	say VMCORE "$(stat -c %s /proc/vmcore)"
	head -c "$(head_size)" /proc/vmcore >/tmp/vmcore.head
	set -- $(sha256sum </tmp/vmcore.head)
	say BEGIN vmcore.head "$(($(wc -c </tmp/vmcore.head)))" "$1"
	gzip -c </tmp/vmcore.head | base64
	say END vmcore.head
else
	say NOVMCORE
fi
say DONE
poweroff -f
