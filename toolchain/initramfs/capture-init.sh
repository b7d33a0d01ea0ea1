#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of a capture initramfs built by `purgatory initramfs`; the contract
# (configuration keys, status.json, console lines, exit paths) is in
# docs/capture-initramfs.md. It runs as process 1 of the capture kernel that
# a crash started: it mounts /proc, /sys and /dev, loads the configured
# kernel modules, waits a bounded time for the dump device, mounts it, and in
# DIRECTORY/STAMP/ saves the crashed kernel's log (dmesg.txt), then its
# memory (vmcore.incomplete, renamed vmcore once the collector succeeded),
# and status.json; then it unmounts and runs the final action. On a failure
# it prints one line "purgatory-capture: FAILED STEP: WHY", writes what it
# can and runs the failure action. Nothing waits forever: the device wait is
# bounded by wait_seconds, and a watchdog runs the failure action when the
# whole capture outlasts timeout_seconds.
#
# Only busybox applets and the collector are used. Sourced by another shell
# (not process 1) it only defines its functions.

CONF=/etc/purgatory/capture.conf
MNT=/mnt/dump

say() { echo "purgatory-capture: $*"; }

# Seconds since the capture kernel booted (/proc/uptime, 1/100 s).
now() { read -r up _ </proc/uptime; echo "$up"; }
# Seconds from uptime $1 to uptime $2, two decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# Size in bytes of file $1, or nothing.
size_of() { stat -c %s "$1" 2>/dev/null; }
# One line: the text of $1 with line breaks as spaces.
one_line() { printf '%s' "$1" | tr '\n\r' '  '; }

# $1 as a JSON string: backslash and quote escaped, line breaks as \n,
# tabs as spaces, other control characters dropped (RFC 8259 section 7).
# Paths, devices and numbers need none of that: they are printed as they
# are, without starting four programs (each costs under emulation).
jstr() {
	case $1 in
	*[!A-Za-z0-9\ ./:_=,+@%-]*) ;;
	*)
		printf '"%s"' "$1"
		return
		;;
	esac
	printf '"'
	printf '%s' "$1" | tr -d '\001-\010\013\014\016-\037\177\r' | tr '\t' ' ' |
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
	printf '"'
}
# $1 as a JSON string, or null when empty.
jopt() { if [ -n "$1" ]; then jstr "$1"; else printf null; fi; }
# $1 as a JSON number, or null when it is not one.
jnum() {
	case $1 in
	'' | *[!0-9.]* | *.*.* | .*) printf null ;;
	*) printf '%s' "$1" ;;
	esac
}

# Prints status.json with result $1 and action $2 from what the capture
# knows so far.
status_json() {
	printf '{\n'
	printf '  "format": "purgatory-capture-status/1",\n'
	printf '  "result": %s,\n' "$(jstr "$1")"
	printf '  "failedStep": %s,\n' "$(jopt "$failed_step")"
	printf '  "message": %s,\n' "$(jopt "$message")"
	printf '  "dumpTo": %s,\n' "$(jstr "$dump_to")"
	printf '  "device": %s,\n' "$(jopt "$dev")"
	printf '  "fsType": %s,\n' "$(jstr "$fs_type")"
	printf '  "directory": %s,\n' "$(jstr "$directory/$stamp")"
	printf '  "captureKernel": %s,\n' "$(jstr "$(uname -r)")"
	printf '  "bootId": %s,\n' "$(jopt "$boot_id")"
	printf '  "vmcoreBytes": %s,\n' "$(jnum "$vmcore_bytes")"
	printf '  "dmesg": {"file": %s, "exitStatus": %s, "bytes": %s, "seconds": %s, "messages": %s},\n' \
		"$(jopt "$dmesg_file")" "$(jnum "$dmesg_status")" "$(jnum "$dmesg_bytes")" "$(jnum "$dmesg_seconds")" "$(jopt "$dmesg_messages")"
	printf '  "collector": {"command": %s, "file": %s, "exitStatus": %s, "bytes": %s, "seconds": %s, "messages": %s},\n' \
		"$(jstr "$core_collector")" "$(jopt "$collector_file")" "$(jnum "$collector_status")" "$(jnum "$collector_bytes")" \
		"$(jnum "$collector_seconds")" "$(jopt "$collector_messages")"
	printf '  "uptime": {"init": %s, "deviceReady": %s, "mounted": %s, "saved": %s},\n' \
		"$(jnum "$t_init")" "$(jnum "$t_device")" "$(jnum "$t_mounted")" "$(jnum "$t_saved")"
	printf '  "action": %s\n' "$(jopt "$2")"
	printf '}\n'
}

# Writes text $2 to file $1 in one go; true only when all of it is there
# (a full disk fails a write part-way, and a lost line can leave valid JSON).
put() { printf '%s\n' "$2" >"$1" && [ "$(size_of "$1")" = "$(printf '%s\n' "$2" | wc -c)" ]; }

# Writes DIR/status.json with result $1 and action $2 through a temporary
# file and a rename, and syncs it to the disk. A disk the collector filled
# (ENOSPC) has no room for a second copy: then it writes over status.json,
# whose blocks the truncation frees; the "running" status reserves them by
# ending in STATUS_RESERVE spaces (JSON allows trailing white space).
STATUS_RESERVE=32768
write_status() {
	[ -n "$dir" ] && [ -d "$dir" ] || return 1
	text=$(status_json "$1" "$2")
	[ "$1" != running ] || text="$text$(printf "%${STATUS_RESERVE}s" "")"
	if put "$dir/status.json.tmp" "$text" && mv -f "$dir/status.json.tmp" "$dir/status.json"; then
		sync
		return 0
	fi
	rm -f "$dir/status.json.tmp"
	put "$dir/status.json" "$(status_json "$1" "$2")" && sync
}

# The last lines of log $1 (progress bars end in CR: each becomes a line),
# at most 4000 bytes.
tail_of() { tr '\r' '\n' <"$1" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n 40 | tail -c 4000; }

# The line of log $1 that says what went wrong (makedumpfile ends with
# consequences: "This is an incomplete dumpfile", "makedumpfile Failed."),
# else its last line.
why_of() {
	line=$(tail_of "$1" | grep -m 1 -i -E "error|can't|cannot|no space|denied|not found|invalid")
	[ -n "$line" ] || line=$(tail_of "$1" | tail -n 1)
	printf '%s' "$line"
}

# Unmounts the dump file system and runs action $1; never returns.
finish() {
	[ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null
	sync
	if [ -n "$mounted" ]; then umount "$MNT" 2>/dev/null || mount -o remount,ro "$MNT" 2>/dev/null; fi
	act "$1"
}

# Runs action $1: busybox's -f skips init's shutdown and calls reboot(2)
# itself. If that returns, sysrq b resets (Documentation/admin-guide/sysrq.rst);
# process 1 exiting then panics the kernel, which panic= turns into a reset.
act() {
	case $1 in
	shell)
		say "shell: exit it to reboot"
		setsid cttyhack sh
		reboot -f
		;;
	poweroff) poweroff -f ;;
	halt) halt -f ;;
	*) reboot -f ;;
	esac
	sleep 5
	echo b >/proc/sysrq-trigger
	exit 1
}

# Prints one FAILED line, writes status.json if the directory exists, and
# runs the failure action. $1 is the step, $2 why.
fail() {
	failed_step=$1
	message=$(one_line "$2")
	say "FAILED $failed_step: $message; failure action: $failure_action"
	if [ -n "$dir" ] && [ -d "$dir" ]; then
		[ ! -e "$dir/vmcore.incomplete" ] || collector_file=vmcore.incomplete
		write_status failure "$failure_action" || say "cannot write $directory/$stamp/status.json"
	fi
	finish "$failure_action"
}

# True when uptime $1 is at or past uptime $2.
reached() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# The device $dump_to names, waiting up to wait_seconds for it; sets dev.
wait_for_device() {
	limit=$(awk -v a="$(now)" -v w="$wait_seconds" 'BEGIN { printf "%.2f", a + w }')
	while :; do
		case $dump_to in
		LABEL=* | UUID=*) dev=$(findfs "$dump_to" 2>/dev/null) || dev= ;;
		*) dev=$dump_to ;;
		esac
		if [ -n "$dev" ] && [ -b "$dev" ]; then return 0; fi
		dev=
		! reached "$(now)" "$limit" || return 1
		usleep 100000
	done
}

main() {
	export PATH=/bin:/sbin:/usr/bin:/usr/sbin
	# The dump holds all of the crashed machine's memory: for root only.
	umask 077
	# The collector and the module list are split into words, never globbed.
	set -f
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	[ ! -c /dev/console ] || exec </dev/console >/dev/console 2>&1
	t_init=$(now)
	failure_action=reboot
	[ -r "$CONF" ] || fail config "$CONF is missing"
	. "$CONF"
	export PATH="$path" LD_LIBRARY_PATH="$library_path"
	say "started at ${t_init} s (kernel $(uname -r)): dump to $dump_to ($fs_type) $directory, then $final_action"

	a=$failure_action
	[ "$a" != shell ] || a=reboot
	(
		sleep "$timeout_seconds"
		say "FAILED timeout: the capture did not finish within $timeout_seconds s; failure action: $a"
		sync
		act "$a"
	) &
	watchdog=$!

	for m in $modules; do
		n=${m##*/}
		n=$(echo "${n%.ko}" | tr - _)
		[ ! -d "/sys/module/$n" ] || continue
		out=$(insmod "$m" 2>&1) || [ -d "/sys/module/$n" ] || fail modules "insmod $m: $out"
	done

	wait_for_device || fail device "$dump_to did not appear within $wait_seconds s (block devices: $(ls /sys/class/block 2>/dev/null | tr '\n' ' '))"
	t_device=$(now)
	say "device $dev ready at $t_device s"

	mkdir -p "$MNT"
	if [ "$fs_type" = auto ]; then
		out=$(mount -o rw "$dev" "$MNT" 2>&1) || fail mount "mount $dev: $out"
	else
		out=$(mount -t "$fs_type" -o rw "$dev" "$MNT" 2>&1) || fail mount "mount -t $fs_type $dev: $out"
	fi
	mounted=1
	t_mounted=$(now)

	# The crashed machine's clock is unknown: the capture kernel's UTC time,
	# sortable, and this boot's random id, unique.
	boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
	stamp=$(date -u +%Y%m%dT%H%M%SZ)-$(printf '%s' "$boot_id" | head -c 8)
	mkdir -p "$MNT$directory" && mkdir "$MNT$directory/$stamp" || fail directory "cannot create $directory/$stamp on $dev"
	dir=$MNT$directory/$stamp

	[ -e /proc/vmcore ] || fail vmcore "/proc/vmcore does not exist: this kernel was not started by a crash"
	vmcore_bytes=$(size_of /proc/vmcore)
	write_status running "" || fail directory "cannot write status.json in $directory/$stamp on $dev"

	# The log first: it is small and says why the machine crashed.
	t=$(now)
	makedumpfile --dump-dmesg /proc/vmcore "$dir/dmesg.txt" >/tmp/dmesg.log 2>&1
	dmesg_status=$?
	sync
	dmesg_seconds=$(elapsed "$t" "$(now)")
	dmesg_bytes=$(size_of "$dir/dmesg.txt")
	[ -z "$dmesg_bytes" ] || dmesg_file=dmesg.txt
	[ "$dmesg_status" = 0 ] || dmesg_messages=$(tail_of /tmp/dmesg.log)
	if [ "$dmesg_status" = 0 ]; then say "saved dmesg.txt ($dmesg_bytes bytes, $dmesg_seconds s)"; else say "WARNING dmesg: makedumpfile --dump-dmesg exited with $dmesg_status"; fi

	t=$(now)
	say "saving the memory ($vmcore_bytes bytes in /proc/vmcore) with: $core_collector"
	# shellcheck disable=SC2086 # the collector is a command line: split it into words
	$core_collector /proc/vmcore "$dir/vmcore.incomplete" >/tmp/collector.log 2>&1
	collector_status=$?
	sync
	collector_seconds=$(elapsed "$t" "$(now)")
	collector_bytes=$(size_of "$dir/vmcore.incomplete")
	collector_messages=$(tail_of /tmp/collector.log)
	[ "$collector_status" = 0 ] || fail collector "$core_collector exited with $collector_status: $(why_of /tmp/collector.log)"
	mv "$dir/vmcore.incomplete" "$dir/vmcore" && sync || fail collector "cannot rename vmcore.incomplete to vmcore"
	collector_file=vmcore
	t_saved=$(now)
	result=success
	[ "$dmesg_status" = 0 ] || result=partial
	write_status "$result" "$final_action" || fail status "cannot write $directory/$stamp/status.json"
	say "SAVED $directory/$stamp on $dev: vmcore $collector_bytes bytes in $collector_seconds s, dmesg.txt ${dmesg_bytes:-0} bytes; $(elapsed "$t_init" "$t_saved") s since /init started; final action: $final_action"
	finish "$final_action"
}

if [ "$$" = 1 ]; then
	main
else
	say "this is the capture kernel's /init; it runs only as process 1" >&2
	return 1 2>/dev/null || exit 1
fi
