import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Fake root file systems for the initramfs tests: a directory on the host
 * laid out from a table of files, links and directories.
 */

export type Node = Uint8Array | string | { readonly link: string } | { readonly dir: true };

/** Writes `nodes` (absolute path in the root → content) under a fresh directory in `parent`; returns it. */
export function fakeRoot(parent: string, nodes: Readonly<Record<string, Node>>): string {
  const root = mkdtempSync(join(parent, "root-"));
  for (const [path, node] of Object.entries(nodes)) {
    const p = join(root, path);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof node === "object" && "link" in node) symlinkSync(node.link, p);
    else if (typeof node === "object" && "dir" in node) mkdirSync(p, { recursive: true });
    else writeFileSync(p, node);
  }
  return root;
}
