/**
 * The purgatory: its ABI (header, slots, region table), the build from
 * templates/ and purgatory-src/ through the checked assembler, and patching.
 */
export {
  ABI_VERSION, CONSOLE_KINDS, DEFAULT_CONSOLE, FIXED_CONSOLE_WIDTH, FLAGS, formatConsole, HEADER, headerRows, MAGIC, MAX_REGIONS, MIN_REGIONS,
  PAGE_TABLE_SIZE, parseConsole, parseHeader, PATCHED_MAGIC, PATCHED_VALUE, POLICIES, PSCI_CONDUITS, REGION_ENTRY, REGION_ENTRY_SIZE, SCALAR_SLOTS,
  slotMap,
} from "./abi.js";
export type {
  Console, ConsoleKind, ConsoleShift, ConsoleWidth, FlagName, Header, HeaderRow, Policy, PsciConduit, ScalarSlotName, SlotMap,
} from "./abi.js";
export { build, DEFAULT_PAGE_TABLES, MAX_PAGE_TABLES } from "./build.js";
export type { Build, BuildOptions } from "./build.js";
export { checkConsole, checkPsci, flagNames, patch, readSlots, regionOf } from "./patch.js";
export type { PatchValues, Region, SlotValues } from "./patch.js";
export { expandTemplate, expandTemplateFile } from "./template.js";
export type { TemplateParams } from "./template.js";
export { PREBUILT_FILE, prebuild, purgatoryBlob, sourceKey } from "./prebuilt.js";
export type { BlobOptions, PurgatoryBlob } from "./prebuilt.js";
