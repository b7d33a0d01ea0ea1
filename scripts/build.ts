import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "esbuild";
import { PREBUILT_FILE, prebuild } from "../toolchain/purgatory/index.js";

/**
 * `npm run build`, after tsc:
 * 1. the `purgatory` command bundled, dist/bin/purgatory.mjs (package.json's
 *    `bin`) and one chunk per command: Node resolves, reads and compiles a few
 *    modules instead of about 120, which was a third of `purgatory bundle`'s
 *    CPU time (bench/bundle.ts). The
 *    packages that load WebAssembly or data files next to themselves stay
 *    outside and are imported from node_modules as usual.
 * 2. the default purgatory, assembled once (toolchain/purgatory/prebuilt.ts),
 *    so that `purgatory bundle` runs without Keystone.
 */
const root = join(import.meta.dirname, "../..");
const bin = join(root, "dist/bin");

// Chunk names carry content hashes: clear the old ones.
rmSync(bin, { recursive: true, force: true });

await build({
  entryPoints: { purgatory: join(root, "toolchain/cli/main.ts") },
  outdir: bin,
  outExtension: { ".js": ".mjs" },
  // One chunk per command (they are imported on demand) and shared chunks:
  // `purgatory bundle` compiles only the code it runs.
  splitting: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node18",
  external: ["keystone-wasm", "capstone-wasm", "xz-decompress", "xxhash-wasm"],
  // yargs calls require() from its ES modules; give the bundle one.
  banner: { js: 'import { createRequire as __purgatoryRequire } from "node:module"; const require = __purgatoryRequire(import.meta.url);' },
  logLevel: "warning",
});

mkdirSync(dirname(PREBUILT_FILE), { recursive: true });
writeFileSync(PREBUILT_FILE + ".tmp", await prebuild());
renameSync(PREBUILT_FILE + ".tmp", PREBUILT_FILE);
