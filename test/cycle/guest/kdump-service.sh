#!/bin/sh
# /init of the production guest of test/cycle/kdump-service.test.ts: kdump
# armed on the guest itself by `purgatory kdump arm` (Debian 12's node 18),
# a crash, the capture initramfs saving the dump, and this /init again after
# QEMU restarts the machine, checking what was saved. Every line the host
# reads starts with "@@".
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /mnt /var/lib/purgatory
exec >/dev/console 2>&1
dmesg -n 1
up() { read -r u _ </proc/uptime; echo "$u"; }
say() { echo "@@$*@@"; }
fail() { say "VERDICT FAIL $*"; poweroff -f; }
say "INIT $(up) boot $(cat /proc/sys/kernel/random/boot_id)"

# The dump disk's driver (virtio_blk is a module in Debian's cloud kernel).
for m in $(cat /etc/modules.order); do insmod "$m" || fail "insmod $m"; done

# The failure path (pgtest=nodisk: QEMU has no dump disk): arm with a capture
# initramfs that waits 5 s for its device, and crash. The capture side gives
# up, says so and reboots; the host stops QEMU when this /init runs again.
if grep -q pgtest=nodisk /proc/cmdline; then
	t=$(up)
	purgatory kdump arm --kernel /boot/Image --initrd /boot/capture-nodisk.cpio.gz --loader /bin/loader --json >/tmp/arm.json 2>&1
	rc=$?
	say "ARM $rc $t $(up) $(tr -d '\n' </tmp/arm.json)"
	[ $rc = 0 ] || fail "kdump arm exited with $rc"
	say "CRASH $(up)"
	echo c >/proc/sysrq-trigger
	fail "still running after sysrq-c"
fi
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || fail "no /dev/vda"
mount -t ext4 /dev/vda /mnt || fail "cannot mount /dev/vda"

dump=
for d in /mnt/var/crash/*/; do [ -d "$d" ] && dump=${d%/}; done
if [ -z "$dump" ]; then
	# First boot: arm, crash.
	t=$(up); node -e 0; say "NODE $t $(up)"
	say "STATUS-BEFORE $(purgatory kdump status --json | tr -d '\n')"
	t=$(up)
	purgatory kdump arm --kernel /boot/Image --initrd /boot/capture.cpio.gz --loader /bin/loader --json >/tmp/arm.json 2>&1
	rc=$?
	say "ARM $rc $t $(up) $(tr -d '\n' </tmp/arm.json)"
	[ $rc = 0 ] || fail "kdump arm exited with $rc"
	say "STATUS-AFTER $(purgatory kdump status --json | tr -d '\n')"
	say "CRASHLOADED $(cat /sys/kernel/kexec_crash_loaded)"
	# Keep this boot's bundle on the disk: the next boot must refuse it.
	cp -a /var/lib/purgatory/bundle /mnt/old-bundle || fail "cannot keep the bundle"
	marker=$(cat /proc/sys/kernel/random/uuid)
	echo "$marker" >/mnt/marker
	umount /mnt
	sync
	dmesg -n 8
	echo "PURGATORY-MARKER $marker" >/dev/kmsg
	say "CRASH $(up)"
	echo c >/proc/sysrq-trigger
	fail "still running after sysrq-c"
fi

# Second boot: the capture kernel saved the dump and rebooted.
say "BACK $(up) dump $dump"
for f in vmcore dmesg.txt status.json; do [ -s "$dump/$f" ] || fail "no $dump/$f"; done
marker=$(cat /mnt/marker)
makedumpfile --dump-dmesg "$dump/vmcore" /tmp/dmesg.txt >/tmp/mdf.log 2>&1 || fail "makedumpfile --dump-dmesg: $(tail -n 3 /tmp/mdf.log | tr '\n' ' ')"
grep -q "PURGATORY-MARKER $marker" /tmp/dmesg.txt || fail "the marker $marker is not in the saved vmcore's log"
say "STATUS-BACK $(purgatory kdump status --json | tr -d '\n')"
/bin/loader --verify /mnt/old-bundle >/tmp/old.log 2>&1
rc=$?
say "OLD-BUNDLE $rc $(grep -c 'moved:' /tmp/old.log) $(grep 'moved:' /tmp/old.log | tr '\n' '|')"
say "CRASHLOADED $(cat /sys/kernel/kexec_crash_loaded)"
umount /mnt
say "VERDICT OK $dump marker $marker"
poweroff -f
