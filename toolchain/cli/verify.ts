import type { Argv, CommandModule } from "yargs";
import { verifyBundle } from "../bundle/index.js";
import { report, run } from "./_run.js";

/** `purgatory verify DIR`: check a bundle offline; exit 1 naming the first failure. */

interface Args {
  dir: string;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "verify <dir>",
  describe: "Check a bundle offline: segment digests, every layout rule, purgatory slots, /chosen and the elfcorehdr",
  builder: (y) =>
    y
      .positional("dir", { type: "string", demandOption: true, describe: "Bundle directory written by `purgatory bundle`" })
      .option("json", { type: "boolean", describe: "Print every check as JSON" })
      .usage(
        "$0 verify DIR\n\n" +
          "Re-hashes every segment file against manifest.json, re-checks the kernel's\n" +
          "sanity_check_segment_list and the arm64 booting rules against the bundle's target,\n" +
          "and checks that segments.bin, the purgatory's slots (kernel entry, DTB address, console,\n" +
          "region table) and the DTB's /chosen agree with the manifest, and that the purgatory's UART\n" +
          "lies outside RAM and every segment (or says why it prints nothing). Exit 1 names the first failure.",
      ) as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      const r = await verifyBundle(argv.dir);
      report(argv, r, (d) =>
        [
          ...d.checks.map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.check}: ${c.detail}`),
          d.ok ? `bundle ${d.dir} verified: ${d.checks.length} checks passed` : `bundle ${d.dir} FAILED: ${d.firstFailure!.check}: ${d.firstFailure!.detail}`,
        ].join("\n"));
      if (!r.ok) process.exitCode = 1;
    }),
};

export default command;
