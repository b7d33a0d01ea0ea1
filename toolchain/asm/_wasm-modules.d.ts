/**
 * The parts of keystone-wasm 1.0.4 and capstone-wasm 1.0.3 this folder uses.
 * Both packages ship declarations, but their `exports` maps do not point at
 * them, so TypeScript's NodeNext resolution cannot find them; these mirror
 * `node_modules/{keystone,capstone}-wasm/dist/index.d.ts`.
 */
declare module "keystone-wasm" {
  export class Keystone {
    constructor(arch: number, mode: number);
    asm(data: string, options?: { address?: number | bigint }): Uint8Array;
    static version(): { major: number; minor: number };
  }
  export const Const: { readonly KS_ARCH_ARM64: number; readonly KS_MODE_LITTLE_ENDIAN: number };
  /** Emscripten module arguments (`print`, `printErr`, ...). */
  export function loadKeystone(args?: Record<string, unknown>): Promise<void>;
}

declare module "capstone-wasm" {
  export interface Insn {
    id: number;
    address: number | bigint;
    size: number;
    bytes: Uint8Array;
    mnemonic: string;
    opStr: string;
  }
  export class Capstone {
    constructor(arch: number, mode: number);
    disasm(data: number[] | Uint8Array, options?: { address?: number | bigint; count?: number }): Insn[];
  }
  export const Const: { readonly CS_ARCH_ARM64: number; readonly CS_MODE_ARM: number };
  export function loadCapstone(args?: Record<string, unknown>): Promise<void>;
}
