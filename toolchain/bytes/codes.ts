/**
 * Every code an `InputError` can carry, with what it means: the closed list,
 * in the spirit of libfdt's `FDT_ERR_*`. A code names the kind of fault, not
 * the place (the error's `where` and message say where). One spelling:
 * `BAD_<THING>` for input that is malformed, `NO_<THING>` for something
 * required that is absent, `<THING>_MISMATCH` for two facts that disagree,
 * `TOO_*`/`UNSUPPORTED_*` for input that is well formed but beyond what the
 * kernel or this tool takes. `BAD_OPTION` is the only code about a command-line
 * option's value, and the CLI exits 2 for it (a usage error) instead of 1.
 *
 * test/bytes/codes.test.ts checks that every code here is thrown somewhere in
 * toolchain/ and that a test expects it.
 */
export const ERROR_CODES = {
  // Reading bytes and structures (every format)
  TRUNCATED: "the input ends before a structure it declares",
  TRAILING_DATA: "bytes follow where the format says the input ends",
  TOO_LARGE: "a size or count beyond what the format, the kernel or a safe integer allows",
  TOO_DEEP: "nesting deeper than the format or the kernel allows (FDT nodes, nested kernel containers)",
  BAD_MAGIC: "the magic number is not the format's",
  BAD_VERSION: "a format version this tool does not read",
  BAD_HEADER: "a header field out of range",
  BAD_LAYOUT: "blocks outside the input, misaligned or overlapping",
  BAD_STRUCTURE: "FDT tokens out of order: nesting, unknown tag, missing FDT_END",
  BAD_STRING: "a string not NUL-terminated inside its block, or outside it",
  BAD_NAME: "a node, property or file name that is empty or not allowed",
  BAD_PATH: "a node path that is not absolute or has an empty component",
  BAD_VALUE: "a value that does not decode as its type, or cannot be encoded or used",
  BAD_CELLS: "#address-cells/#size-cells that is not one cell in 0..4",
  VALUE_TOO_WIDE: "an address or size that does not fit its cells",
  DUPLICATE: "two properties or sibling nodes with one name",
  AMBIGUOUS: "a unit-less path component that matches several nodes",
  NOT_FOUND: "a node, property or slot that does not exist",
  EXISTS: "a node that already exists",
  SIZE_MISMATCH: "a header's size disagrees with the data",
  DIGEST_MISMATCH: "a file's SHA-256 differs from the one recorded",
  FORMAT_MISMATCH: "a container says its data is one format but it is another",
  // Kernel files
  UNKNOWN_FORMAT: "a kernel file that matches no known format",
  UNSUPPORTED_FORMAT: "a known format (or codec, or filter) this tool cannot unpack",
  UNSUPPORTED_BIG_ENDIAN: "a big-endian kernel",
  PAGE_SIZE_CONFLICT: "two page sizes disagree (the kernel's and the target's, or two sources on the target)",
  NOT_ELF: "no ELF magic",
  UNSUPPORTED_ELF: "an ELF class, data encoding or version other than 64-bit little-endian",
  BAD_ELF: "an ELF file whose headers or segments are inconsistent",
  BAD_PE: "a PE/COFF header (EFI stub) that is inconsistent",
  BAD_GZIP: "a gzip member that is corrupt",
  BAD_ZSTD: "a zstd frame that is corrupt",
  BAD_XZ: "an xz stream that is corrupt",
  BAD_ZBOOT: "an EFI zboot header that is inconsistent",
  BAD_UIMAGE: "a U-Boot uImage header that is inconsistent or not for Linux on arm64",
  // The target description and the live system it comes from
  BAD_TARGET: "a target description (target.json) field that is wrong",
  BAD_JSON: "text that is not JSON",
  BAD_CAPTURE: "a collect-target.sh capture that is malformed",
  NOT_CAPTURE: "text that is not a collect-target.sh capture",
  BAD_IOMEM: "/proc/iomem text that is malformed",
  IOMEM_HIDDEN: "/proc/iomem read without the privilege to see addresses",
  BAD_VMCOREINFO: "vmcoreinfo text that is malformed",
  NO_VMCOREINFO: "no vmcoreinfo where a crash load needs it",
  BAD_KCORE: "/proc/kcore notes that are inconsistent",
  BAD_AUXV: "/proc/self/auxv that is malformed",
  BAD_SYSFS: "a sysfs file whose text is not in its format",
  BAD_PAGE_SIZE: "a page size other than 4, 16 or 64 KiB",
  NO_PAGE_SIZE: "no source gives the page size",
  MISSING_FILE: "a file every Linux has is missing from the source",
  NO_ACCESS: "permission denied reading the live system",
  NOT_ARM64: "the machine or kernel is not arm64",
  NO_CRASH_KERNEL: "a crash load on a target that reserves no crash kernel memory",
  NO_KERNEL_RANGES: "no Kernel code/data ranges to describe the kernel text",
  KERNEL_MISMATCH: "the kernel's own ranges contradict each other",
  TOO_MANY_HEADERS: "more program headers than an ELF header can count",
  TARGET_MISMATCH: "an input was made for another target than the one given",
  // Placement, the purgatory and the bundle
  NO_FIT: "a segment or reservation that does not fit the free memory",
  OVER_HALF_RAM: "segments that take more than half of RAM (the kernel refuses them)",
  MISALIGNED: "an address without the alignment it needs",
  OVERLAP: "two ranges that overlap",
  TOO_MANY_REGIONS: "more regions than the purgatory's table holds",
  TOO_MANY_SEGMENTS: "more segments than kexec_load takes (16)",
  BAD_ROLE: "a segment role this tool does not know",
  BAD_ABI: "a purgatory ABI version this tool does not know",
  BAD_SLOT: "a purgatory slot holding a value it cannot hold",
  BAD_CONSOLE: "a console this purgatory cannot drive at that address",
  ASM_SYNTAX: "assembly source Keystone cannot take, with its file and line",
  ASM_ERROR: "Keystone failed or trapped while assembling",
  ASM_DROPPED: "Keystone silently dropped or resized statements",
  BAD_LOAD: "a proposed segment list (explain's input) that is malformed",
  BAD_MANIFEST: "a bundle's manifest.json field that is wrong",
  NO_MANIFEST: "a directory without a readable manifest.json",
  NO_DTB: "no device tree where the kernel needs one",
  CMDLINE_CONFLICT: "command-line options that exclude each other",
  CMDLINE_TOO_LONG: "a kernel command line over COMMAND_LINE_SIZE",
  OUTPUT_EXISTS: "an output path that exists and is not ours to replace",
  READ_FAILED: "a file that cannot be read",
  WRITE_FAILED: "a file that cannot be written",
  // Sizing the crash kernel reservation
  BAD_CRASHKERNEL: "a crashkernel= value the kernel's parse_crashkernel would refuse",
  BAD_CALIBRATION: "a crashkernel calibration file that is malformed or for another page size",
  BAD_CPIO: "a cpio archive (newc) whose headers are malformed",
  // Emulation
  QEMU_MISSING: "QEMU is not installed",
  QEMU_FAILED: "QEMU refused the machine, or the guest it ran did not do its part (it never sent what it was booted for)",
  KEXEC_LOAD_REFUSED: "the kernel's kexec_load would refuse the segments",
  SEGMENT_ON_QEMU_DTB: "a segment on the ROM where QEMU keeps its own DTB",
  SEGMENT_OUTSIDE_RAM: "a segment outside the emulated machine's RAM",
  DTB_MEMORY_OUTSIDE_RAM: "the bundle's DTB declares memory the emulated machine lacks",
  ENTRY_OUTSIDE_SEGMENTS: "an entry point in no segment",
  PSCI_MISMATCH: "the DTB's PSCI conduit is not the one the emulated machine answers",
  // Provisioning (scripts/)
  NO_ASSETS: "the provisioned arm64 assets are missing: run npm run provision",
  BAD_ASSETS: "a provisioned asset whose digest or description is wrong",
  STALE_ASSETS: "assets described in an older schema than this code reads",
  // Command-line options
  BAD_OPTION: "a command-line option's value is out of range or malformed (exit 2)",
} as const;

/** A code an `InputError` carries: one of `ERROR_CODES`. */
export type ErrorCode = keyof typeof ERROR_CODES;
