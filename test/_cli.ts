import { vi } from "vitest";
import yargs from "yargs";
import type { CommandModule } from "yargs";

/**
 * Runs one `purgatory` command module in-process through yargs, capturing
 * stdout and stderr; usage failures map to exit 2 as in main.ts.
 */
export async function runCli(
  command: CommandModule<object, any>, // yargs types each module by its own options
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => ((stderr += String(s)), true));
  process.exitCode = undefined;
  const usage = new Error("usage");
  try {
    await yargs(args)
      .scriptName("purgatory")
      .command(command)
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        if (err) throw err;
        stderr += msg;
        throw usage;
      })
      .parseAsync();
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } catch (e) {
    if (e !== usage) throw e;
    return { code: 2, stdout, stderr };
  } finally {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  }
}
