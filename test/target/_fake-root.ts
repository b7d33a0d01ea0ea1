import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Builds a fake arm64 root in a temp directory from a fixture: the text files
 * under `<fixture>/root` verbatim, plus the binary ones made here from
 * readable sources: /proc/kcore (an ELF core built by hand, independently of
 * toolchain/elf, carrying `<fixture>/vmcoreinfo.txt` in its VMCOREINFO note,
 * then extended sparsely to 16 GiB so reading it whole would fail),
 * /proc/self/auxv (AT_PAGESZ) and /sys/firmware/fdt (`dtc` of `<fixture>/fdt.dts`).
 */
export const FIXTURE = new URL("fixtures/qemu-virt-6.1/", import.meta.url).pathname;

export interface FakeRootOptions {
  readonly pageSize?: number;
  /** Leave /proc/kcore out. */
  readonly noKcore?: boolean;
  /** e_machine of the kcore (183 = EM_AARCH64). */
  readonly machine?: number;
}

export function makeFakeRoot(opts: FakeRootOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "purgatory-root-"));
  cpSync(join(FIXTURE, "root"), dir, { recursive: true });
  mkdirSync(join(dir, "proc/self"), { recursive: true });
  mkdirSync(join(dir, "sys/firmware"), { recursive: true });
  writeFileSync(join(dir, "proc/self/auxv"), auxv(opts.pageSize ?? 4096));
  execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", join(dir, "sys/firmware/fdt"), join(FIXTURE, "fdt.dts")]);
  if (opts.noKcore !== true) {
    const kcore = join(dir, "proc/kcore");
    writeFileSync(kcore, fakeKcore(readFileSync(join(FIXTURE, "vmcoreinfo.txt"), "utf8"), opts.machine ?? 183));
    truncateSync(kcore, 16 * 1024 ** 3);
  }
  return dir;
}

/** A 64-bit auxv as the kernel writes it: (type, value) u64 pairs ending in AT_NULL. */
export function auxv(pageSize: number): Uint8Array {
  const pairs: [bigint, bigint][] = [[33n, 0xffff9e5a1000n], [16n, 0x8ffn], [6n, BigInt(pageSize)], [17n, 100n], [0n, 0n]];
  const b = new Uint8Array(pairs.length * 16);
  const v = new DataView(b.buffer);
  pairs.forEach(([t, x], i) => {
    v.setBigUint64(i * 16, t, true);
    v.setBigUint64(i * 16 + 8, x, true);
  });
  return b;
}

/**
 * An arm64 /proc/kcore header as Linux `fs/proc/kcore.c` lays it out: the ELF
 * header, a PT_NOTE first, PT_LOADs whose offsets are far past the end of
 * this buffer, then the notes (CORE prstatus, prpsinfo, task_struct, VMCOREINFO).
 */
export function fakeKcore(vmcoreinfo: string, machine = 183): Uint8Array {
  const text = new TextEncoder().encode(vmcoreinfo);
  const notes: [string, number, number][] = [["CORE", 1, 392], ["CORE", 3, 136], ["CORE", 4, 4416], ["VMCOREINFO", 0, text.length]];
  const pad = (n: number) => Math.ceil(n / 4) * 4;
  const notesSize = notes.reduce((s, [n, , d]) => s + 12 + pad(n.length + 1) + pad(d), 0);
  const loads: [bigint, bigint, bigint][] = [
    [0xffffaba2dee00000n, 0x40200000n, 0x1e80000n], // kernel text
    [0xffff800008000000n, 0xffffffffffffffffn, 0x7bf7e7f0000n], // vmalloc
    [0xffff000000000000n, 0x40000000n, 0x40000000n], // RAM
    [0xfffffc0001000000n, 0xffffffffffffffffn, 0x1000000n], // vmemmap
  ];
  const phnum = 1 + loads.length;
  const noteAt = 64 + 56 * phnum;
  const dataOffset = BigInt(Math.ceil((noteAt + notesSize) / 4096) * 4096);
  const b = new Uint8Array(noteAt + notesSize);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  v.setUint16(16, 4, true); // ET_CORE
  v.setUint16(18, machine, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phnum, true);
  const phdr = (i: number, type: number, off: bigint, vaddr: bigint, paddr: bigint, size: bigint, align: bigint) => {
    const at = 64 + i * 56;
    v.setUint32(at, type, true);
    v.setUint32(at + 4, type === 1 ? 7 : 0, true);
    v.setBigUint64(at + 8, off, true);
    v.setBigUint64(at + 16, vaddr, true);
    v.setBigUint64(at + 24, paddr, true);
    v.setBigUint64(at + 32, size, true);
    v.setBigUint64(at + 40, size, true);
    v.setBigUint64(at + 48, align, true);
  };
  phdr(0, 4, BigInt(noteAt), 0n, 0n, BigInt(notesSize), 4n);
  loads.forEach(([vaddr, paddr, size], i) => {
    phdr(i + 1, 1, (vaddr - 0xffff000000000000n + dataOffset) & ((1n << 64n) - 1n), vaddr, paddr, size, 4096n);
  });
  let at = noteAt;
  for (const [name, type, descsz] of notes) {
    v.setUint32(at, name.length + 1, true);
    v.setUint32(at + 4, descsz, true);
    v.setUint32(at + 8, type, true);
    b.set(new TextEncoder().encode(name), at + 12);
    at += 12 + pad(name.length + 1);
    if (name === "VMCOREINFO") b.set(text, at);
    at += pad(descsz);
  }
  return b;
}
