import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * The raw Keystone engine (keystone-wasm 1.0.4, AArch64 little-endian), with
 * the two ways it fails without saying so turned into exceptions:
 *
 * - it prints some errors to stderr and returns success with no bytes
 *   (`.section .text`): everything it prints during a call is captured and
 *   makes the call fail;
 * - it traps the WASM instance on some input (`.text`, `.data`: "memory access
 *   out of bounds"): the instance is then thrown away and a fresh one loaded
 *   before the failure is reported, so later calls run on clean memory;
 * - it traps on any text of about 75,600 bytes or more, whatever the text
 *   says: Emscripten's ccall copies the text onto the WASM stack
 *   (stringToUTF8OnStack), which that overruns. Text longer than
 *   KEYSTONE_TEXT_LIMIT is refused before it gets there.
 *
 * keystone-wasm keeps its instance in a module-level variable that its loader
 * never replaces, so a fresh instance needs a fresh copy of the ES module:
 * importing the same file URL with a new query string gives exactly that.
 */

type KeystoneModule = typeof import("keystone-wasm");
type KeystoneHandle = InstanceType<KeystoneModule["Keystone"]>;

/** Longest text, in UTF-8 bytes, given to Keystone in one call (see above), with room to spare. */
export const KEYSTONE_TEXT_LIMIT = 60_000;

/** A failure of one Keystone call: its error, its stderr, a trap of the WASM instance, or text too long to try. */
export class KeystoneFailure extends Error {
  override readonly name = "KeystoneFailure";
  readonly kind: "error" | "stderr" | "trap" | "size";
  constructor(kind: "error" | "stderr" | "trap" | "size", message: string) {
    super(message);
    this.kind = kind;
  }
}

const require = createRequire(import.meta.url);
const moduleUrl = pathToFileURL(join(dirname(require.resolve("keystone-wasm")), "index.mjs")).href;

/** keystone-wasm's version, as installed (its package.json, found upward from its entry point). */
export function keystoneWasmVersion(): string {
  for (let dir = dirname(require.resolve("keystone-wasm")); dirname(dir) !== dir; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const p = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (p.name === "keystone-wasm" && p.version !== undefined) return p.version;
  }
  throw new Error("keystone-wasm's package.json is not above its entry point");
}
let generation = 0;

/** One loaded Keystone instance; replaced transparently after a trap. */
export class KeystoneEngine {
  private ks: KeystoneHandle;
  private readonly output: string[];
  /** How many instances this engine has loaded (1 + the number of traps survived). */
  loads: number;
  readonly version: string;

  private constructor(ks: KeystoneHandle, output: string[], version: string) {
    this.ks = ks;
    this.output = output;
    this.loads = 1;
    this.version = version;
  }

  static async load(): Promise<KeystoneEngine> {
    const { ks, output, version } = await instantiate();
    return new KeystoneEngine(ks, output, version);
  }

  /**
   * Assembles `text` as if placed at `address`.
   * @throws KeystoneFailure on an error, any stderr output, a trap (after
   *   reloading), or text longer than KEYSTONE_TEXT_LIMIT bytes (not tried).
   */
  async assemble(text: string, address: bigint): Promise<Uint8Array> {
    const size = Buffer.byteLength(text);
    if (size > KEYSTONE_TEXT_LIMIT) {
      throw new KeystoneFailure("size", `${size} bytes of text, more than the ${KEYSTONE_TEXT_LIMIT} Keystone takes in one call`);
    }
    this.output.length = 0;
    let bytes: Uint8Array;
    try {
      bytes = this.ks.asm(text, { address });
    } catch (e) {
      // A trap surfaces as WebAssembly.RuntimeError; Keystone's own errors are plain Errors.
      if ((e as Error).name === "RuntimeError") {
        const fresh = await instantiate();
        this.ks = fresh.ks;
        this.output.length = 0;
        this.output.push(...fresh.output);
        this.loads += 1;
        throw new KeystoneFailure("trap", `Keystone trapped (${(e as Error).message}); the instance was reloaded`);
      }
      const said = this.output.length > 0 ? ` (${this.output.join(" ").trim()})` : "";
      throw new KeystoneFailure("error", `${(e as Error).message.replace(/^Failed to assemble, error: /, "")}${said}`);
    }
    if (this.output.length > 0) {
      throw new KeystoneFailure("stderr", this.output.map((l) => l.trim()).filter((l) => l !== "")[0] ?? "output");
    }
    return bytes;
  }
}

async function instantiate(): Promise<{ ks: KeystoneHandle; output: string[]; version: string }> {
  generation += 1;
  const m = (await import(`${moduleUrl}?instance=${generation}`)) as KeystoneModule;
  const output: string[] = [];
  const sink = (s: string): void => {
    output.push(s);
  };
  await m.loadKeystone({ print: sink, printErr: sink });
  const ks = new m.Keystone(m.Const.KS_ARCH_ARM64, m.Const.KS_MODE_LITTLE_ENDIAN);
  const v = m.Keystone.version();
  return { ks, output, version: `${v.major}.${v.minor}` };
}
