// SPDX-License-Identifier: GPL-2.0-only
/*
 * A reference kexec loader for purgatory bundles.
 *
 *   loader BUNDLE_DIR          load the bundle with kexec_load(2)
 *   loader --exec              reboot into a loaded reboot bundle
 *   loader --unload [--crash]  unload the normal (or crash) image
 *
 * It reads BUNDLE_DIR/segments.bin (a 32-byte header, then 96-byte entries,
 * all little-endian; declared in toolchain/bundle/table.ts), reads each
 * segment file, and passes the table's entry and flags to the kernel
 * unchanged. The purgatory in the bundle checks every segment's SHA-256
 * before it enters the kernel, so this loader does not hash anything.
 *
 * Build: scripts/build-loader.sh (aarch64-linux-gnu-gcc -static -Os).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEXEC_ON_CRASH 0x1UL
#define KEXEC_ARCH_AARCH64 (183UL << 16)
#define LINUX_REBOOT_MAGIC1 0xfee1deadUL
#define LINUX_REBOOT_MAGIC2 672274793UL
#define LINUX_REBOOT_CMD_KEXEC 0x45584543UL
#define SEGMENT_MAX 16

struct kexec_segment { /* include/uapi/linux/kexec.h */
	const void *buf;
	size_t bufsz;
	const void *mem;
	size_t memsz;
};

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads a whole file into memory; exits with a message on failure. */
static unsigned char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "loader: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	unsigned char *buf = malloc(st.st_size ? st.st_size : 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);
		if (n <= 0) {
			fprintf(stderr, "loader: cannot read %s: %s\n", path, n ? strerror(errno) : "short file");
			exit(1);
		}
		got += n;
	}
	if (!buf) {
		fprintf(stderr, "loader: out of memory reading %s\n", path);
		exit(1);
	}
	close(fd);
	*len = got;
	return buf;
}

/* The likely cause of each errno kexec_load returns (kernel/kexec.c, kexec_core.c). */
static const char *cause(int err)
{
	switch (err) {
	case EPERM:
		return "needs root (CAP_SYS_BOOT); or kexec_load is disabled (kernel.kexec_load_disabled) or the kernel is locked down (Secure Boot)";
	case EINVAL:
		return "segments overlap, bufsz > memsz, more than 16 segments, a segment over half of RAM, or flags this kernel does not know; run `purgatory explain` on the bundle";
	case EADDRNOTAVAIL:
		return "a segment is not page-aligned for this kernel, or (crash) a segment or the entry lies outside the crashkernel= region; run `purgatory explain` with this machine's target";
	case EBUSY:
		return "a kexec is in progress, or CPUs are stuck in the kernel";
	case ENOMEM:
		return "not enough free memory to stage the segments";
	case ENOSYS:
		return "this kernel was built without CONFIG_KEXEC";
	default:
		return "see kexec_load(2)";
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: loader BUNDLE_DIR | loader --exec | loader --unload [--crash]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--exec")) {
		syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, NULL);
		fprintf(stderr, "loader: reboot(LINUX_REBOOT_CMD_KEXEC) failed: %s (is a reboot bundle loaded?)\n", strerror(errno));
		return 1;
	}
	if (argc >= 2 && !strcmp(argv[1], "--unload")) {
		unsigned long flags = KEXEC_ARCH_AARCH64;
		if (argc == 3 && !strcmp(argv[2], "--crash"))
			flags |= KEXEC_ON_CRASH;
		else if (argc != 2)
			return usage();
		if (syscall(SYS_kexec_load, 0UL, 0UL, NULL, flags)) {
			fprintf(stderr, "loader: unload failed: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-')
		return usage();

	const char *dir = argv[1];
	size_t len;
	unsigned char *t = slurp(dir, "segments.bin", &len);
	if (len < 32 || memcmp(t, "PGSEGTB1", 8) || le32(t + 8) != 1) {
		fprintf(stderr, "loader: %s/segments.bin is not a version 1 segment table\n", dir);
		return 1;
	}
	uint32_t count = le32(t + 12);
	uint64_t entry = le64(t + 16), flags = le64(t + 24);
	/* kexec_load with no segments unloads (kernel/kexec.c), so refuse an empty table. */
	if (count == 0 || count > SEGMENT_MAX || len != 32 + 96 * (size_t)count) {
		fprintf(stderr, "loader: segments.bin: bad count %u for %zu bytes\n", count, len);
		return 1;
	}

	struct kexec_segment seg[SEGMENT_MAX];
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = t + 32 + 96 * i;
		char name[33];
		memcpy(name, e + 64, 32);
		name[32] = 0;
		if (!name[0] || strchr(name, '/')) {
			fprintf(stderr, "loader: segments.bin entry %u: file name \"%s\" is not a plain name\n", i, name);
			return 1;
		}
		size_t flen;
		seg[i].buf = slurp(dir, name, &flen);
		seg[i].bufsz = le64(e + 16);
		seg[i].mem = (const void *)(uintptr_t)le64(e);
		seg[i].memsz = le64(e + 8);
		if (flen != seg[i].bufsz) {
			fprintf(stderr, "loader: %s is %zu bytes, the table says %zu\n", name, flen, seg[i].bufsz);
			return 1;
		}
		printf("loader: segment %u %-16s mem 0x%09lx memsz 0x%08lx bufsz 0x%08lx\n", i, name,
		       (unsigned long)le64(e), (unsigned long)seg[i].memsz, (unsigned long)seg[i].bufsz);
	}
	if (syscall(SYS_kexec_load, (unsigned long)entry, (unsigned long)count, seg, (unsigned long)flags)) {
		int err = errno;
		fprintf(stderr, "loader: kexec_load(entry 0x%lx, %u segments, flags 0x%lx) failed: %s\nloader: likely cause: %s\n",
			(unsigned long)entry, count, (unsigned long)flags, strerror(err), cause(err));
		return 1;
	}
	printf("loader: loaded %s bundle, entry 0x%lx\n", (flags & KEXEC_ON_CRASH) ? "crash" : "reboot", (unsigned long)entry);
	return 0;
}
