#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the production guest of a crash probe (toolchain/qemu/crash.ts,
# `purgatory crashkernel --calibrate --qemu`). It does the least a real kdump
# needs, with one exchange over the console:
#
#   1. says "@@MEMINFO MEMTOTAL MEMAVAILABLE UPTIME@@" (kB, /proc/meminfo),
#      describes the machine with collect-target.sh and sends the capture as
#      a frame: "@@BEGIN capture SIZE SHA256 UPTIME@@", the bytes gzip-
#      compressed then base64-encoded, "@@END capture UPTIME@@"; the host
#      answers ACK, or NAK to get it again;
#   2. says "@@READY UPTIME@@" and reads "BUNDLE LEN SHA256", then LEN
#      characters of base64 of a gzip-compressed newc cpio holding the
#      bundle files this boot decides (segments.bin, dtb.bin, elfcorehdr.bin,
#      purgatory.bin); SHA256 is the cpio's. It answers "@@NAK WHY@@" and
#      waits again when they do not decode to that digest;
#   3. loads /bundle with the loader (kernel.bin and initrd.bin are in the
#      archive already), prints "@@LOADED@@", or "@@LOADFAILED STATUS OUTPUT@@"
#      and powers off;
#   4. turns kernel messages back on, prints "@@CRASH UPTIME@@" and crashes
#      with sysrq c (Documentation/admin-guide/sysrq.rst).
#
# Every line for the host ends in the guest's /proc/uptime.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { read -r up _ </proc/uptime; echo "@@$* $up@@"; }
say INIT
# Kernel messages would cut into the frames.
dmesg -n 1
# Raw: no echo, no line editing (and its 4096-byte line limit), no CR/NL translation.
stty raw -echo

# The production system's memory in use (kB), for estimators that start from it.
while read -r key value _; do
	case $key in
	MemTotal:) total=$value ;;
	MemAvailable:) available=$value ;;
	esac
done </proc/meminfo
say MEMINFO "$total" "$available"

sha() { set -- $(sha256sum <"$1"); echo "$1"; }
flat() { tr '\n\r' '  ' <"$1" | head -c 1000; }

if ! sh /bin/collect-target.sh >/tmp/target.capture 2>/tmp/collect.log; then
	say FAILED collect-target.sh: "$(flat /tmp/collect.log)"
	poweroff -f
fi
n=$(wc -c </tmp/target.capture)
sum=$(sha /tmp/target.capture)
answer=
for _ in 1 2 3; do
	say BEGIN capture $((n)) "$sum"
	gzip -c </tmp/target.capture | base64
	say END capture
	read -r answer
	[ "$answer" = ACK ] && break
done
if [ "$answer" != ACK ]; then
	say FAILED the host refused three copies of the capture
	poweroff -f
fi

while :; do
	say READY
	read -r verb len sum || continue
	if [ "$verb" != BUNDLE ]; then
		say NAK unknown request "$verb"
		continue
	fi
	if ! timeout 120 head -c "$len" >/tmp/bundle.b64; then
		say NAK fewer than "$len" characters arrived in 120 s
		continue
	fi
	base64 -d </tmp/bundle.b64 2>/dev/null | gunzip >/tmp/bundle.cpio 2>/dev/null
	if [ "$(sha /tmp/bundle.cpio)" = "$sum" ]; then break; fi
	say NAK "$len" characters arrived but do not decode to sha256 "$sum"
done
(cd /bundle && cpio -i -d </tmp/bundle.cpio 2>/tmp/cpio.log) || {
	say FAILED cpio: "$(flat /tmp/cpio.log)"
	poweroff -f
}

loader /bundle >/tmp/loader.log 2>&1
status=$?
if [ "$status" != 0 ]; then
	say LOADFAILED "$status" "$(flat /tmp/loader.log)"
	poweroff -f
fi
say LOADED
dmesg -n 8
say CRASH
echo c >/proc/sysrq-trigger
