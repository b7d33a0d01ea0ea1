// SPDX-License-Identifier: GPL-2.0-only
/*
 * A reference kexec loader for purgatory bundles.
 *
 *   loader [--verify] BUNDLE_DIR  load the bundle with kexec_load(2)
 *   loader --exec                 reboot into a loaded reboot bundle
 *   loader --unload [--crash]     unload the normal (or crash) image
 *
 * It reads BUNDLE_DIR/segments.bin (a 32-byte header, then 96-byte entries,
 * all little-endian; declared in toolchain/bundle/table.ts), reads each
 * segment file, and passes the table's entry and flags to the kernel
 * unchanged. The purgatory in the bundle checks every segment's SHA-256
 * before it enters the kernel; --verify also checks them here, before
 * kexec_load, so a damaged bundle is refused while it can still be rebuilt
 * rather than at crash time.
 *
 * A crash bundle is only good for the boot it was built in (the elfcorehdr
 * carries the addresses of the VMCOREINFO note and of the per-CPU crash
 * notes, which the kernel allocates at boot). When BUNDLE_DIR/boot.txt
 * exists (toolchain/bundle/boot.ts, docs/kdump-service.md), the loader
 * compares it with the running system and refuses, naming what moved.
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

/* SHA-256 (FIPS 180-4), for --verify. */
struct sha256 {
	uint32_t h[8];
	unsigned char buf[64];
	uint64_t len;
	size_t fill;
};

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) ((x) >> (n) | (x) << (32 - (n)))

static void sha256_block(struct sha256 *c, const unsigned char *p)
{
	uint32_t w[64], s[8];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ w[i - 15] >> 3;
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ w[i - 2] >> 10;
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(s, c->h, sizeof s);
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = s[7] + (ROR(s[4], 6) ^ ROR(s[4], 11) ^ ROR(s[4], 25)) + ((s[4] & s[5]) ^ (~s[4] & s[6])) + K256[i] + w[i];
		uint32_t t2 = (ROR(s[0], 2) ^ ROR(s[0], 13) ^ ROR(s[0], 22)) + ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
		memmove(s + 1, s, 7 * sizeof s[0]);
		s[4] += t1;
		s[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		c->h[i] += s[i];
}

static void sha256(const unsigned char *p, size_t n, unsigned char out[32])
{
	struct sha256 c = { { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }, { 0 }, 0, 0 };
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		sha256_block(&c, p + i);
	unsigned char tail[128] = { 0 };
	size_t rest = n - i, pad = rest < 56 ? 64 : 128;
	memcpy(tail, p + i, rest);
	tail[rest] = 0x80;
	for (int b = 0; b < 8; b++)
		tail[pad - 1 - b] = (unsigned char)((uint64_t)n * 8 >> (8 * b));
	for (size_t j = 0; j < pad; j += 64)
		sha256_block(&c, tail + j);
	for (int j = 0; j < 8; j++)
		for (int b = 0; b < 4; b++)
			out[4 * j + b] = (unsigned char)(c.h[j] >> (24 - 8 * b));
}

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

/* The first line of a small file (sysfs, procfs), without its newline; "" when unreadable. */
static void first_line(const char *path, char *out, size_t n)
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(out, (int)n, f))
		out[0] = 0;
	fclose(f);
	out[strcspn(out, "\n")] = 0;
}

/* The start of "Kernel code" in /proc/iomem (0 when hidden or absent: not root). */
static unsigned long long kernel_code(void)
{
	char line[256];
	unsigned long long start = 0, end;
	FILE *f = fopen("/proc/iomem", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, " : Kernel code") && sscanf(line, " %llx-%llx", &start, &end) == 2)
			break;
	fclose(f);
	return start;
}

/*
 * Compares BUNDLE_DIR/boot.txt ("purgatory-boot 1", then boot_id,
 * vmcoreinfo, crash_notes CPU and kernel_code lines) with the running
 * system. Returns the number of facts that moved, each printed; -1 when
 * boot.txt is malformed.
 */
static int boot_moved(const char *dir)
{
	char path[4096], line[256], now[128];
	int moved = 0;
	snprintf(path, sizeof path, "%s/boot.txt", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof line, f) || strcmp(line, "purgatory-boot 1\n")) {
		fprintf(stderr, "loader: %s is not a \"purgatory-boot 1\" file\n", path);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char val[64];
		unsigned cpu;
		unsigned long long built, cur;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "boot_id %63s", val) == 1) {
			first_line("/proc/sys/kernel/random/boot_id", now, sizeof now);
			if (strcmp(val, now)) {
				fprintf(stderr, "loader: moved: boot_id %s -> %s (the bundle was built in another boot)\n", val, now[0] ? now : "unknown");
				moved++;
			}
		} else if (sscanf(line, "vmcoreinfo 0x%llx", &built) == 1) {
			first_line("/sys/kernel/vmcoreinfo", now, sizeof now);
			if (sscanf(now, "%llx", &cur) != 1 || cur != built) {
				fprintf(stderr, "loader: moved: vmcoreinfo 0x%llx -> %s\n", built, now[0] ? now : "none");
				moved++;
			}
		} else if (sscanf(line, "crash_notes %u 0x%llx", &cpu, &built) == 2) {
			snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/crash_notes", cpu);
			first_line(path, now, sizeof now);
			if (sscanf(now, "%llx", &cur) != 1 || cur != built) {
				fprintf(stderr, "loader: moved: crash_notes of cpu%u 0x%llx -> %s%s\n", cpu, built, now[0] ? "0x" : "", now[0] ? now : "none");
				moved++;
			}
		} else if (sscanf(line, "kernel_code 0x%llx", &built) == 1) {
			cur = kernel_code();
			if (cur != built) {
				fprintf(stderr, "loader: moved: kernel_code 0x%llx -> 0x%llx\n", built, cur);
				moved++;
			}
		} else {
			fprintf(stderr, "loader: boot.txt: unknown line \"%s\"\n", line);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return moved;
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
	fprintf(stderr, "usage: loader [--verify] BUNDLE_DIR | loader --exec | loader --unload [--crash]\n");
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
	int verify = argc == 3 && !strcmp(argv[1], "--verify");
	if (argc != 2 + verify || argv[1 + verify][0] == '-')
		return usage();

	const char *dir = argv[1 + verify];
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
		if (verify) {
			unsigned char got[32];
			sha256(seg[i].buf, flen, got);
			if (memcmp(got, e + 32, 32)) {
				fprintf(stderr, "loader: %s does not match its SHA-256 in segments.bin: the bundle is damaged; rebuild it\n", name);
				return 1;
			}
		}
		printf("loader: segment %u %-16s mem 0x%09lx memsz 0x%08lx bufsz 0x%08lx\n", i, name,
		       (unsigned long)le64(e), (unsigned long)seg[i].memsz, (unsigned long)seg[i].bufsz);
	}
	if (verify)
		printf("loader: verified %u segments against segments.bin\n", count);
	if (flags & KEXEC_ON_CRASH) {
		int moved = boot_moved(dir);
		if (moved < 0)
			return 1;
		if (moved > 0) {
			fprintf(stderr, "loader: refusing %s: it was built for another boot (%d fact%s moved, above); its capture would find no usable notes in /proc/vmcore. Rebuild it in this boot (purgatory kdump arm)\n",
				dir, moved, moved == 1 ? "" : "s");
			return 1;
		}
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
