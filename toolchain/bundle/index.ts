/**
 * The kexec bundle: every segment of one kexec_load built from a kernel, an
 * initrd, a device tree and a target description (build.ts), the /chosen
 * edits (chosen.ts), the purgatory's console and reset (console.ts), manifest.json and the binary segment table for C loaders,
 * written atomically (write.ts) and verified offline (verify.ts).
 */
export { SEGMENT_FILE, buildBundle, describeBundle, TOOL_VERSION } from "./build.js";
export type { Bundle, BundleInputs } from "./build.js";
export { COMMAND_LINE_SIZE, RNG_SEED_SIZE, composeCommandLine, editChosen, expandSeed, formatChosenValue } from "./chosen.js";
export type { ChosenInputs, ChosenResult, ChosenValue, CommandLineOptions } from "./chosen.js";
export { checkPolicy, checkUartAddress, chooseUart, formatUart, forPurgatory, parseConsoleRequest, uartWindow } from "./console.js";
export type { ChosenUart, ConsoleRequest, PurgatoryConsole, Uart } from "./console.js";
export { MANIFEST_FORMAT, MANIFEST_KEYS, parseManifest, serializeManifest } from "./manifest.js";
export type { Manifest, ManifestSegment } from "./manifest.js";
export { ROLE_CODES, TABLE_ENTRY, TABLE_HEADER, decodeSegmentTable, encodeSegmentTable } from "./table.js";
export type { SegmentTable, TableSegment } from "./table.js";
export { readBundle } from "./read.js";
export type { BundleOnDisk, SegmentFault } from "./read.js";
export { verifyBundle } from "./verify.js";
export type { VerifyCheck, VerifyReport } from "./verify.js";
export { BundleDir, writeDirAtomic } from "./write.js";
export type { StagedFile } from "./write.js";
export { BOOT_FILE, BOOT_FILE_MAGIC, bootFacts, bootMoved, encodeBootFile, formatMoved, parseBootFile } from "./boot.js";
export type { BootFacts, Moved } from "./boot.js";
