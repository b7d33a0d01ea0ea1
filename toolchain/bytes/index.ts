/**
 * Shared byte primitives: the error class for bad input, cursors with the byte
 * order in every name, and layout tables from which readers and writers derive.
 */
export { InputError, inFile, inFileAsync, isInputError } from "./error.js";
export { ERROR_CODES } from "./codes.js";
export type { ErrorCode } from "./codes.js";
export { ByteReader, ByteWriter, hex, hex64, readU32BE, toNumber, viewOf } from "./cursor.js";
export { stableJson } from "./json.js";
export { packageFile, packageVersion } from "./package.js";
export { decodeLayout, defineLayout, encodeLayout, fieldWidth } from "./layout.js";
export type { Field, FieldKind, Layout, Record_ } from "./layout.js";
export { crc32, crc32Portable } from "./crc32.js";
