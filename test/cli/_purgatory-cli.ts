import { vi } from "vitest";
import yargs from "yargs";
import type { CommandModule } from "yargs";

/** Runs one command module in-process; returns stdout, stderr and the exit code. */
export async function runCommand(command: CommandModule<object, never>, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const so = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const se = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  process.exitCode = undefined;
  try {
    await yargs(args)
      .command(command as CommandModule)
      .strict()
      .fail((msg, e) => {
        throw e ?? new Error(msg);
      })
      .parseAsync();
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, out, err };
}
