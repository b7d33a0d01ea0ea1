#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the production guest in the kdump and reboot cycles (test/cycle/).
# It describes the machine with collect-target.sh, sends the capture to the
# host over the one console, then serves the host's requests, one line each:
#
#   PUT PATH OFFSET LEN SHA256  then a LEN-character payload: the bytes of
#                               PATH from OFFSET on (OFFSET 0 starts the file)
#   LINK PATH SHA256 LOCAL      copy LOCAL to PATH if its SHA-256 is SHA256
#   RUN LEN SHA256              then a LEN-character payload: a script to run;
#                               its output comes back as a frame, then EXIT
#   GET PATH                    send PATH as a frame
#
# Every line the guest prints for the host is "@@WORD ... UPTIME@@", UPTIME
# from /proc/uptime. A frame is "@@BEGIN NAME SIZE SHA256 UPTIME@@", payload
# lines, "@@END NAME UPTIME@@"; the host answers ACK, or NAK to get it again.
# A payload, either way, is the bytes gzip-compressed, then base64-encoded;
# SIZE and SHA256 are those of the bytes. (The console carries some 60 KiB/s
# out of the guest and under 10 KiB/s into it, and the machine's DTB is
# mostly zeros.) "@@READY UPTIME@@" means the guest waits for a request; the
# host sends one request at a time, so nothing waits long in the tty buffer.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { read -r up _ </proc/uptime; echo "@@$* $up@@"; }
say INIT
# Kernel messages would cut into frames: keep them off the console (the
# checksums catch what still gets through).
dmesg -n 1
# Raw: no echo, no line editing (and its 4096-byte line limit), no CR/NL
# translation, no signals from control characters.
stty raw -echo

sha() { set -- $(sha256sum <"$1"); echo "$1"; }
size() { echo $(($(wc -c <"$1"))); }

send() { # send NAME FILE
	n=$(size "$2")
	sum=$(sha "$2")
	for _ in 1 2 3; do
		say BEGIN "$1" "$n" "$sum"
		gzip -c <"$2" | base64
		say END "$1"
		read -r answer
		[ "$answer" = ACK ] && return 0
	done
	say ERR SEND "$1: the host refused three copies"
	return 1
}

fetch() { # fetch LEN SHA256 FILE: a LEN-character payload from the console into FILE
	if ! timeout 60 head -c "$1" >/tmp/fetch.b64; then
		say ERR FETCH "fewer than $1 characters arrived in 60 s"
		return 1
	fi
	base64 -d </tmp/fetch.b64 2>/dev/null | gunzip >"$3" 2>/dev/null
	if [ "$(sha "$3")" != "$2" ]; then
		say ERR FETCH "$1 characters arrived but do not decode to sha256 $2"
		return 1
	fi
}

sh /bin/collect-target.sh >/tmp/target.capture 2>/tmp/collect.log
say COLLECTED $?
send target.capture /tmp/target.capture

while :; do
	say READY
	read -r verb a b c d || continue
	case $verb in
	PUT)
		fetch "$c" "$d" /tmp/chunk || continue
		mkdir -p "${a%/*}"
		if [ "$b" = 0 ]; then
			cat /tmp/chunk >"$a"
		elif [ -f "$a" ] && [ "$(size "$a")" = "$b" ]; then
			cat /tmp/chunk >>"$a"
		else
			say ERR PUT "$a is not $b bytes long"
			continue
		fi
		say OK PUT "$a" "$(size "$a")"
		;;
	LINK)
		if [ -f "$c" ] && [ "$(sha "$c")" = "$b" ]; then
			mkdir -p "${a%/*}" && cp "$c" "$a" && say OK LINK "$a" "$(size "$a")"
		else
			say ERR LINK "$c is missing or its sha256 is not $b"
		fi
		;;
	RUN)
		fetch "$a" "$b" /tmp/run.sh || continue
		sh /tmp/run.sh </dev/null >/tmp/run.out 2>&1
		status=$?
		send output /tmp/run.out
		say EXIT "$status"
		;;
	GET)
		if [ -f "$a" ]; then send "$a" "$a"; else say ERR GET "$a does not exist"; fi
		;;
	*)
		say ERR REQUEST "unknown request: $verb"
		;;
	esac
done
