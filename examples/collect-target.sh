#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# collect-target.sh: capture what `purgatory describe` needs from an arm64
# Linux target that has no Node, using POSIX sh and busybox applets only
# (head, od, tr, id, base64). Run it as root on the target; it writes a text
# capture to stdout and notes to stderr:
#
#   sh collect-target.sh > target.capture
#   purgatory describe --from target.capture -o target.json     # on the build host
#
# or in one go:  ssh root@target sh < collect-target.sh | purgatory describe --from - -o target.json
#
# The capture is "purgatory-target-capture 1", then for each file a line
# "==> path <==" followed by the file in base64, then "==> end N <==" with the
# number of files, so a capture cut short on the way is refused. It holds:
#   /proc/iomem, /proc/cmdline, /proc/self/auxv (for AT_PAGESZ),
#   /proc/sys/kernel/random/boot_id (the boot the capture describes),
#   /sys/kernel/vmcoreinfo, /sys/firmware/fdt, /sys/kernel/security/lockdown,
#   /sys/devices/system/cpu/cpuN/crash_notes and crash_notes_size,
#   /proc/kcore: only its ELF header, program headers and note segment (which
#     holds the VMCOREINFO note). kcore describes all of memory, so the script
#     reads its program headers with od to find where the note segment ends,
#     and copies the file up to there with head -c: a few KiB.
#
# On a serial console, keep kernel messages out of the stream (dmesg -n 1, or
# write the capture to a file and cat it): an interleaved line is refused.
#
# ROOT=DIR reads the files under DIR instead of / (the tests use this).

set -u
root=${ROOT:-}
count=0

note() { printf 'collect-target: %s\n' "$*" >&2; }

# emit PATH [LIMIT]: write one file (or its first LIMIT bytes) into the capture.
emit() {
	f="$root/$1"
	if [ ! -e "$f" ]; then
		return 1
	fi
	# A file that cannot be read (not root) or is empty is left out. The rest
	# is streamed: holding a file's base64 in a variable costs busybox ash
	# seconds for the 1 MiB device tree QEMU gives (under emulation).
	if [ -z "$(head -c 1 "$f" 2>/dev/null | od -A n -t x1)" ]; then
		note "cannot read /$1 (not root?); left out"
		return 1
	fi
	printf '==> %s <==\n' "$1"
	if [ $# -ge 2 ]; then
		head -c "$2" "$f" | base64
	else
		base64 <"$f"
	fi
	count=$((count + 1))
}

# le FILE OFFSET WIDTH: the little-endian unsigned integer of WIDTH bytes at OFFSET.
le() {
	v=0
	s=1
	n=0
	for b in $(od -A n -t u1 -v -j "$2" -N "$3" "$1" 2>/dev/null); do
		v=$((v + b * s))
		s=$((s * 256))
		n=$((n + 1))
	done
	[ "$n" -eq "$3" ] || return 1
	echo "$v"
}

# kcore_head_size: bytes of /proc/kcore up to the end of its PT_NOTE segment.
kcore_head_size() {
	k="$root/proc/kcore"
	magic=$(od -A n -t x1 -v -N 6 "$k" 2>/dev/null | tr -d ' \n') || return 1
	# "\177ELF", ELFCLASS64, ELFDATA2LSB
	[ "$magic" = 7f454c460201 ] || return 1
	phoff=$(le "$k" 32 8) || return 1
	phnum=$(le "$k" 56 2) || return 1
	i=0
	while [ "$i" -lt "$phnum" ]; do
		ph=$((phoff + i * 56))
		type=$(le "$k" "$ph" 4) || return 1
		if [ "$type" -eq 4 ]; then # PT_NOTE
			off=$(le "$k" $((ph + 8)) 8) || return 1
			size=$(le "$k" $((ph + 32)) 8) || return 1
			echo $((off + size))
			return 0
		fi
		i=$((i + 1))
	done
	return 1
}

[ -r "$root/proc/iomem" ] || { note "cannot read /proc/iomem"; exit 1; }
[ "$(id -u)" = 0 ] || [ -n "$root" ] || note "not root: /proc/iomem shows zeros and crash_notes, /proc/kcore stay closed"

printf 'purgatory-target-capture 1\n'
emit proc/iomem
emit proc/cmdline || note "no /proc/cmdline"
emit proc/sys/kernel/random/boot_id || true # optional: only `purgatory kdump` ties a bundle to its boot
emit proc/self/auxv || note "no /proc/self/auxv; pass --page-size to describe"
emit sys/kernel/vmcoreinfo || note "no /sys/kernel/vmcoreinfo (kernel without CONFIG_CRASH_CORE?)"
emit sys/firmware/fdt || note "no /sys/firmware/fdt"
emit sys/kernel/security/lockdown || note "no /sys/kernel/security/lockdown (securityfs not mounted?): explain cannot tell whether lockdown refuses kexec_load"
for d in "$root"/sys/devices/system/cpu/cpu[0-9]*; do
	[ -d "$d" ] || continue
	cpu=${d#"$root"/}
	emit "$cpu/crash_notes" && emit "$cpu/crash_notes_size"
done
if end=$(kcore_head_size); then
	emit proc/kcore "$end"
else
	note "cannot read the notes of /proc/kcore (not root, lockdown, or no kcore): no vmcoreinfo text, so no elfcorehdr"
fi
printf '==> end %s <==\n' "$count"
