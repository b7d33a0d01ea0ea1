import { randomBytes } from "node:crypto";
import type { Argv, CommandModule } from "yargs";
import { InputError, inFile } from "../bytes/index.js";
import { BundleDir, SEGMENT_FILE, buildBundle, composeCommandLine, describeBundle, parseConsoleRequest, type StagedFile } from "../bundle/index.js";
import { ARM64_IMAGE_HEADER_SIZE, IMAGE_HEAD_SIZE, hasImageMagic } from "../image/index.js";
import type { Policy } from "../purgatory/index.js";
import { parseTarget } from "../target/index.js";
import { readHead, readInput, readText, refuseStdout } from "./_files.js";
import { UsageError, optionValue, report, run } from "./_run.js";

/**
 * `purgatory bundle`: every segment of one kexec_load, laid out, digested into
 * the purgatory, and written atomically as a bundle directory.
 */

interface Args {
  mode: "crash" | "reboot";
  kernel: string;
  initrd?: string;
  dtb?: string;
  target: string;
  append?: string;
  commandLine?: string;
  reuseCmdline?: boolean;
  seed?: string;
  console?: string;
  onMismatch?: Policy;
  mmu?: boolean;
  crypto?: boolean;
  output: string;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "bundle",
  describe: "Build every segment of a kexec_load (kernel, initrd, DTB, elfcorehdr, purgatory) as a verified bundle directory",
  builder: (y) =>
    y
      .usage(
        "$0 bundle --mode crash|reboot --kernel K [--initrd I] [--dtb D] --target T.json\n" +
          "          [--command-line S | --reuse-cmdline [--append S] | --append S] [--seed HEX] -o DIR\n\n" +
          "Unwraps the kernel (Image, Image.gz/.zst/.xz, EFI zboot, vmlinux, uImage), refuses a\n" +
          "truncated kernel or initramfs (cpio, gzip, zstd, xz, concatenated), builds the\n" +
          "elfcorehdr (crash), edits /chosen (bootargs, initrd, elfcorehdr, usable-memory-range,\n" +
          "kaslr-seed, rng-seed), places the segments where the target's kernel accepts them, and\n" +
          "patches the purgatory with each segment's SHA-256, the kernel entry and the DTB address.\n" +
          "DIR gets one file per segment, manifest.json and segments.bin (for C loaders); it is\n" +
          "written atomically. Load it with examples/loader, check it with `purgatory verify DIR`,\n" +
          "try it with `purgatory boot DIR --qemu`.\n\n" +
          "The new kernel's command line (/chosen/bootargs) is --command-line S as given, or the\n" +
          "target's (--reuse-cmdline) followed by the words of --append, or --append alone. With none\n" +
          "of the three the bundle has no bootargs: the property is deleted, and the kernel falls back\n" +
          "to its built-in CONFIG_CMDLINE (often empty: no console=, no root=).\n\n" +
          "The purgatory prints on the target's console UART (--console auto: the one its device tree\n" +
          "names, docs/target.md) when this purgatory can drive it, and prints nothing otherwise (never\n" +
          "at a guessed address); the bundle says which. --on-mismatch reset needs PSCI, which the\n" +
          "target's device tree must list.",
      )
      .option("mode", { choices: ["crash", "reboot"] as const, demandOption: true, describe: "crash: kexec -p (capture kernel); reboot: kexec -l" })
      .option("kernel", { type: "string", requiresArg: true, demandOption: true, describe: "The kernel to boot, in any arm64 format (- for stdin)" })
      .option("initrd", { alias: "ramdisk", type: "string", requiresArg: true, describe: "The initramfs for the new kernel (- for stdin)" })
      .option("dtb", { type: "string", requiresArg: true, describe: "Base device tree (default: the one in the target description)" })
      .option("target", { alias: "t", type: "string", requiresArg: true, demandOption: true, describe: "target.json from `purgatory describe` or `purgatory target qemu-virt`" })
      .option("append", { type: "string", describe: "Words appended to the target's command line (--reuse-cmdline), or the whole command line alone" })
      .option("command-line", { type: "string", describe: "The whole command line, not combined with --append (an empty one deletes bootargs; default: no bootargs)" })
      .option("reuse-cmdline", { type: "boolean", describe: "Start from the target's command line, without BOOT_IMAGE= (and crashkernel= in crash mode)" })
      .option("seed", { type: "string", describe: "Hex seed for kaslr-seed and rng-seed: the same seed gives a byte-identical bundle (default: 32 random bytes; manifest.json records the seed either way)" })
      .option("console", {
        type: "string",
        default: "auto",
        describe: "Purgatory console: auto (the target's UART, else none), none, or FAMILY@ADDR[,shift=N][,width=N] with FAMILY pl011, 8250 or cadence",
      })
      .option("on-mismatch", { choices: ["spin", "reset"] as const, default: "spin" as Policy, describe: "What the purgatory does when a digest does not match" })
      .option("mmu", { type: "boolean", default: true, describe: "Hash with an identity map, MMU and D-cache on (--no-mmu: caches off, slower, for platforms where that is wiser)" })
      .option("crypto", { type: "boolean", default: true, describe: "Hash with the ARMv8 SHA-256 instructions when the CPU has them (--no-crypto: scalar code)" })
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "Bundle directory to write" })
      .option("json", { type: "boolean", describe: "Print the manifest summary as JSON" })
      .example("$0 bundle --mode crash --kernel Image --initrd capture.cpio.gz -t target.json --append 'nr_cpus=1' -o kdump", "")
      .example("$0 bundle --mode reboot --kernel vmlinuz --initrd initrd.img -t target.json --reuse-cmdline --seed 00 -o next", "") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      if (argv.commandLine !== undefined && argv.reuseCmdline) throw new UsageError("--command-line and --reuse-cmdline both set the command line; add words with --append.");
      if (argv.commandLine !== undefined && argv.append !== undefined) {
        throw new UsageError("--command-line gives the whole command line and --append adds to the target's (with --reuse-cmdline): write the words of --append into --command-line.");
      }
      let seed: Uint8Array;
      if (argv.seed !== undefined) {
        if (!/^([0-9a-fA-F]{2})+$/.test(argv.seed)) throw new UsageError("--seed takes an even number of hex digits, e.g. --seed 0123abcd");
        seed = new Uint8Array(Buffer.from(argv.seed, "hex"));
      } else seed = new Uint8Array(randomBytes(32));
      refuseStdout(argv.output);
      const purgatoryConsole = optionValue("--console", () => parseConsoleRequest(argv.console ?? "auto"));
      const target = inFile(argv.target, () => parseTarget(readText(argv.target)));
      const commandLine = composeCommandLine({
        mode: argv.mode,
        commandLine: argv.commandLine,
        reuse: argv.reuseCmdline ? target.commandLine : undefined,
        append: argv.append,
      });
      const writeFailed = (e: unknown): InputError =>
        e instanceof InputError
          ? e
          : new InputError("WRITE_FAILED", `Cannot write the bundle to ${argv.output}: ${(e as Error).message}`, argv.output, "Check that the parent directory exists and is writable");
      const out = await BundleDir.open(argv.output).catch((e: unknown) => {
        throw writeFailed(e);
      });
      try {
        // A raw Image and a file initrd go straight into the bundle directory,
        // hashed on the way and never held whole (bench/bundle.ts); other
        // kernel formats are unwrapped in memory, and stdin is read whole.
        // The initrd first: buildBundle checks it (inflating on zlib's
        // thread) while the kernel is still being copied.
        const stage = (name: string, file: string, keep = 0): Promise<StagedFile> =>
          out.copy(name, file, keep).catch((e: unknown) => {
            throw writeFailed(e);
          });
        const initrd = argv.initrd === undefined ? null : argv.initrd === "-" ? readInput("-") : await stage(SEGMENT_FILE.initrd, argv.initrd);
        if (initrd !== null && (initrd instanceof Uint8Array ? initrd.length : initrd.size) === 0) {
          throw new InputError("BAD_VALUE", `Cannot use the initrd: --initrd ${argv.initrd} is empty`, "--initrd",
            "Give the initramfs (a cpio archive, usually compressed), or leave --initrd out to boot without one");
        }
        const dtb = argv.dtb === undefined ? null : readInput(argv.dtb);
        const rawImage = argv.kernel !== "-" && hasImageMagic(readHead(argv.kernel, ARM64_IMAGE_HEADER_SIZE));
        const kernel = rawImage ? stage(SEGMENT_FILE.kernel, argv.kernel, IMAGE_HEAD_SIZE) : readInput(argv.kernel);
        const b = await buildBundle({
          mode: argv.mode,
          kernel,
          initrd,
          dtb,
          target,
          commandLine,
          seed,
          console: purgatoryConsole,
          onMismatch: argv.onMismatch ?? "spin",
          mmu: argv.mmu ?? true,
          crypto: argv.crypto ?? true,
          names: { kernel: argv.kernel, target: argv.target, ...(argv.initrd === undefined ? {} : { initrd: argv.initrd }), ...(argv.dtb === undefined ? {} : { dtb: argv.dtb }) },
        });
        await out.commit(b.files).catch((e: unknown) => {
          throw writeFailed(e);
        });
        report(argv, { dir: argv.output, manifest: b.manifest, warnings: b.warnings, notes: b.notes }, () => describeBundle(b, argv.output));
      } finally {
        await out.discard();
      }
    }),
};

export default command;
