import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SourceLine } from "../asm/index.js";
import { packageFile } from "../bytes/index.js";

/**
 * Templates: assembly text with `{{…}}` tags, expanded here before assembly.
 *
 *   {{name}}                the value of parameter `name`
 *   {{include "file.S"}}    alone on a line: the lines of purgatory-src/file.S
 *                           (which may include others; each file at most once)
 *
 * Every tag must resolve and every parameter must be used, so a typo fails the
 * build instead of producing a different blob. Numbers print in decimal,
 * bigints as 0x-hex. Each line keeps its file and line number, so assembler
 * errors point into the template or the included source.
 */

export type TemplateParams = Readonly<Record<string, number | bigint | string>>;

/** The package root: the folder holding purgatory-src/ and templates/. */
export const ROOT: string = packageFile();

/**
 * Reads `templates/<name>` and expands it.
 * @throws TypeError for an unknown or unused parameter or a bad include (these are our own files).
 */
export function expandTemplateFile(name: string, params: TemplateParams): SourceLine[] {
  const file = `templates/${name}`;
  return expandTemplate(readFileSync(join(ROOT, file), "utf8"), file, params);
}

/** Expands template `text` (named `file` in messages); includes come from purgatory-src/. */
export function expandTemplate(text: string, file: string, params: TemplateParams): SourceLine[] {
  const used = new Set<string>();
  const included = new Set<string>();
  const out: SourceLine[] = [];

  const expand = (body: string, from: string): void => {
    for (const [i, raw] of body.split("\n").entries()) {
      const where = `${from}:${i + 1}`;
      const inc = /^\s*\{\{\s*include\s+"([A-Za-z0-9_.-]+)"\s*\}\}\s*$/.exec(raw);
      if (inc) {
        const name = inc[1] ?? "";
        if (included.has(name)) throw new TypeError(`${where}: purgatory-src/${name} is included twice`);
        included.add(name);
        const path = `purgatory-src/${name}`;
        if (!existsSync(join(ROOT, path))) throw new TypeError(`${where}: ${path} does not exist`);
        expand(readFileSync(join(ROOT, path), "utf8"), path);
        continue;
      }
      // Only the code is expanded: a tag in a `//` comment documents a
      // parameter, and counting it as a use would hide an unused one.
      const cut = commentStart(raw);
      const code = raw.slice(0, cut).replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, name: string) => {
        const v = params[name];
        if (v === undefined) throw new TypeError(`${where}: unknown template parameter {{${name}}}`);
        used.add(name);
        return typeof v === "bigint" ? "0x" + v.toString(16) : String(v);
      });
      const line = code + raw.slice(cut);
      out.push({ file: from, line: i + 1, text: line });
    }
  };

  expand(text, file);
  const unused = Object.keys(params).filter((k) => !used.has(k));
  if (unused.length > 0) throw new TypeError(`${file}: template parameters never used: ${unused.join(", ")}`);
  return out;
}

/** Where a `//` comment starts in an assembly line (outside "…" strings), or the line's length. */
function commentStart(line: string): number {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === "/" && line[i + 1] === "/") return i;
  }
  return line.length;
}
