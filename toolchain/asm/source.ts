import { InputError } from "../bytes/index.js";
import { encodeSha2, SHA2_MNEMONICS } from "./sha2.js";

/**
 * Parses assembly source into statements whose size is known before Keystone
 * sees them, so the assembler can check that every statement emitted what it
 * should (Keystone drops some statements silently: `.inst`, `foo bar baz`).
 *
 * The language is a subset of GNU as syntax for AArch64, so the same source
 * also assembles with `aarch64-linux-gnu-as` (a test compares the bytes):
 * - one statement per line, optionally after `label:`; `//` comments;
 * - `.macro NAME a, b` … `.endm` with `\a` substitution (expanded here,
 *   because Keystone's own expansion cannot be checked statement by statement;
 *   names match without regard to case and before mnemonics, as in GNU as);
 * - data: `.byte .hword .short .word .long .quad .inst` (counted per
 *   expression), `.ascii .asciz .string`, `.space .skip .zero` (literal size);
 * - alignment: `.balign N`, `.p2align P`, `.align P` (P is a power of two, as in
 *   GNU as for AArch64), literal values only;
 * - symbols: `.equ NAME, expr`, `.set NAME, expr`;
 * - `sha256h`, `sha256h2`, `sha256su0`, `sha256su1`, which Keystone rejects,
 *   become `.long` words from `sha2.ts`; `.inst` becomes `.long`.
 * Every other directive is refused: sections (`.text` traps Keystone,
 * `.section` silently assembles to nothing), `.rept`, `.if`, `;` separators,
 * `/* *\/` comments and numeric local labels (`1f`, which Keystone rejects).
 */

/** One line of input and where it came from (1-based line). */
export interface SourceLine {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** Where a statement came from; `via` is the macro call that produced it. */
export interface Origin {
  readonly file: string;
  readonly line: number;
  readonly via?: { readonly macro: string; readonly at: Origin };
}

interface Base {
  /** The statement as written (after macro substitution). */
  readonly source: string;
  /** What Keystone is given. */
  readonly text: string;
  readonly origin: Origin;
}

/** A statement with its size model: `label` and `symbol` emit nothing, `insn` emits 4 bytes. */
export type Statement =
  | (Base & { readonly kind: "label"; readonly name: string })
  | (Base & { readonly kind: "symbol"; readonly name: string })
  | (Base & { readonly kind: "insn"; readonly mnemonic: string })
  | (Base & { readonly kind: "data"; readonly size: number })
  | (Base & { readonly kind: "align"; readonly align: number });

/** Formats an origin as `file:line`, with the macro call chain. */
export function formatOrigin(o: Origin): string {
  const here = `${o.file}:${o.line}`;
  return o.via ? `${here} (in macro ${o.via.macro}, called at ${formatOrigin(o.via.at)})` : here;
}

/** Splits `text` into lines attributed to `file`. */
export function sourceLines(text: string, file: string): SourceLine[] {
  return text.split("\n").map((t, i) => ({ file, line: i + 1, text: t }));
}

const DATA_WIDTH: Readonly<Record<string, number>> = {
  ".byte": 1,
  ".hword": 2,
  ".short": 2,
  ".word": 4,
  ".long": 4,
  ".inst": 4,
  ".quad": 8,
};
const SUPPORTED =
  ".byte .hword .short .word .long .quad .inst .ascii .asciz .string .space .skip .zero .balign .p2align .align .equ .set .macro .endm";
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Prefix reserved for the assembler's own labels. */
export const RESERVED_PREFIX = "__asm_";
const MAX_MACRO_DEPTH = 32;

interface Macro {
  readonly params: readonly string[];
  readonly body: readonly SourceLine[];
  readonly at: Origin;
}

/**
 * Parses and macro-expands source lines into statements.
 * @throws InputError `ASM_SYNTAX` (where = `file:line`) for anything outside the modelled subset.
 */
export function parseSource(lines: readonly SourceLine[]): Statement[] {
  const out: Statement[] = [];
  const macros = new Map<string, Macro>();
  let defining: { name: string; params: string[]; body: SourceLine[]; at: Origin } | undefined;

  const fail = (o: Origin, message: string, hint?: string): never => {
    throw new InputError("ASM_SYNTAX", `Cannot assemble ${formatOrigin(o)}: ${message}`, `${o.file}:${o.line}`, hint);
  };

  const visit = (src: SourceLine, via: Origin["via"], depth: number): void => {
    const origin: Origin = via ? { file: src.file, line: src.line, via } : { file: src.file, line: src.line };
    let rest = stripComment(src.text, (m) => fail(origin, m, "Put one statement per line and use // comments")).trim();
    if (defining) {
      if (/^\.endm\b/i.test(rest)) {
        macros.set(defining.name.toLowerCase(), { params: defining.params, body: defining.body, at: defining.at });
        defining = undefined;
      } else if (/^\.macro\b/i.test(rest)) fail(origin, "a macro cannot be defined inside another macro");
      else defining.body.push({ file: src.file, line: src.line, text: rest });
      return;
    }
    for (let m = /^([A-Za-z_][A-Za-z0-9_]*):/.exec(rest); m; m = /^([A-Za-z_][A-Za-z0-9_]*):/.exec(rest)) {
      const name = m[1] ?? "";
      if (name.startsWith(RESERVED_PREFIX)) fail(origin, `label ${name} uses the reserved prefix ${RESERVED_PREFIX}`);
      out.push({ kind: "label", name, source: `${name}:`, text: `${name}:`, origin });
      rest = rest.slice(m[0].length).trim();
    }
    if (rest === "") return;
    const sp = /^(\S+)\s*(.*)$/.exec(rest);
    const word = sp?.[1] ?? "";
    const args = sp?.[2] ?? "";
    const lower = word.toLowerCase();

    if (lower === ".macro") {
      const [name = "", ...params] = args.split(/[\s,]+/).filter((s) => s !== "");
      if (!IDENT.test(name)) fail(origin, `bad macro name "${name}"`);
      if (macros.has(name.toLowerCase())) fail(origin, `macro ${name} is already defined`);
      for (const p of params) if (!IDENT.test(p)) fail(origin, `bad macro parameter "${p}"`, "Defaults and varargs are not supported");
      defining = { name, params, body: [], at: origin };
      return;
    }
    if (lower === ".endm") fail(origin, ".endm without .macro");

    // GNU as looks macro names up without regard to case, before mnemonics:
    // a macro DUP takes over every `dup` instruction.
    const macro = macros.get(lower);
    if (macro) {
      if (depth >= MAX_MACRO_DEPTH) fail(origin, `macros nest deeper than ${MAX_MACRO_DEPTH}`);
      const values = args.trim() === "" ? [] : splitArgs(args);
      if (values.length !== macro.params.length) {
        fail(origin, `macro ${word} takes ${macro.params.length} arguments (${macro.params.join(", ")}), got ${values.length}`);
      }
      const bind = new Map(macro.params.map((p, i) => [p, values[i] ?? ""]));
      for (const b of macro.body) {
        const text = b.text.replace(/\\(\(\)|[A-Za-z_][A-Za-z0-9_]*)/g, (_all, name: string) => {
          if (name === "()") return "";
          const v = bind.get(name);
          return v ?? fail({ file: b.file, line: b.line }, `macro ${word} has no parameter \\${name}`);
        });
        visit({ file: b.file, line: b.line, text }, { macro: word, at: origin }, depth + 1);
      }
      return;
    }

    if (word.startsWith(".")) {
      out.push(directive(lower, rest, args, origin, fail));
      return;
    }
    if (SHA2_MNEMONICS.has(lower)) {
      const w = encodeSha2(lower, args);
      if (typeof w === "string") fail(origin, w);
      out.push({ kind: "data", size: 4, source: rest, text: `.long 0x${(w as number).toString(16).padStart(8, "0")}`, origin });
      return;
    }
    if (/(^|[\s,[])\d+[fb]\b/.test(args)) {
      fail(origin, `numeric local label in "${rest}"`, "Keystone cannot resolve 1f/1b; give the label a name");
    }
    out.push({ kind: "insn", mnemonic: lower, source: rest, text: rest, origin });
  };

  for (const l of lines) visit(l, undefined, 0);
  if (defining) fail(defining.at, `macro ${defining.name} has no .endm`);
  return out;
}

function directive(
  name: string,
  source: string,
  args: string,
  origin: Origin,
  fail: (o: Origin, m: string, hint?: string) => never,
): Statement {
  const width = DATA_WIDTH[name];
  if (width !== undefined) {
    const n = args.trim() === "" ? 0 : splitArgs(args).length;
    if (n === 0) fail(origin, `${name} needs at least one value`);
    const text = name === ".inst" ? `.long ${args}` : source;
    return { kind: "data", size: n * width, source, text, origin };
  }
  switch (name) {
    case ".ascii":
    case ".asciz":
    case ".string": {
      const parts = splitArgs(args);
      let size = 0;
      for (const p of parts) {
        const s = parseString(p);
        if (typeof s === "string") fail(origin, s);
        size += (s as number) + (name === ".ascii" ? 0 : 1);
      }
      if (parts.length === 0) fail(origin, `${name} needs a string`);
      return { kind: "data", size, source, text: source, origin };
    }
    case ".space":
    case ".skip":
    case ".zero": {
      const parts = splitArgs(args);
      const size = literal(parts[0]);
      const fill = parts.length > 1 ? literal(parts[1]) : 0;
      if (size === undefined || fill === undefined || fill > 0xff || parts.length > (name === ".zero" ? 1 : 2)) {
        fail(origin, `${name} needs a literal size${name === ".zero" ? "" : " and an optional literal fill byte"}`, "Use a number or a {{parameter}}");
      }
      return { kind: "data", size: size as number, source, text: source, origin };
    }
    case ".balign":
    case ".p2align":
    case ".align": {
      const parts = splitArgs(args);
      const v = literal(parts[0]);
      const fill = parts.length > 1 ? literal(parts[1]) : 0;
      const align = v === undefined ? NaN : name === ".balign" ? v : 2 ** v;
      if (!(align >= 1 && align <= 65536 && (align & (align - 1)) === 0) || fill === undefined || fill > 0xff || parts.length > 2) {
        fail(origin, `${name} needs a literal power-of-two alignment (at most 64 KiB) and an optional literal fill byte`);
      }
      return { kind: "align", align, source, text: source, origin };
    }
    case ".equ":
    case ".set": {
      const [sym = "", value] = splitArgs(args);
      if (!IDENT.test(sym) || value === undefined) fail(origin, `${name} needs NAME, value`);
      if (sym.startsWith(RESERVED_PREFIX)) fail(origin, `symbol ${sym} uses the reserved prefix ${RESERVED_PREFIX}`);
      return { kind: "symbol", name: sym, source, text: source, origin };
    }
    default:
      return fail(origin, `directive ${name} is not supported`, `Supported: ${SUPPORTED}. Others are refused because Keystone mishandles some without an error`);
  }
}

/** Removes a `//` comment; refuses `;` separators and block comments (outside strings). */
function stripComment(text: string, refuse: (m: string) => never): string {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "/" && text[i + 1] === "/") return text.slice(0, i);
    else if (c === "/" && text[i + 1] === "*") refuse("block comments are not supported");
    else if (c === ";") refuse("`;` statement separators are not supported");
    else if (c === "#" && text.slice(0, i).trim() === "") refuse("`#` comments are not supported");
  }
  return text;
}

/** Splits at top-level commas (outside strings, parentheses and brackets). */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? "";
    if (inString) {
      if (c === "\\") {
        cur += c + (text[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += c;
  }
  out.push(cur.trim());
  return out;
}

/** A decimal or 0x-hex literal, or undefined. */
function literal(s: string | undefined): number | undefined {
  if (s === undefined || !/^(0x[0-9a-f]+|[0-9]+)$/i.test(s)) return undefined;
  const v = Number(s);
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * The byte length of a quoted string with the escapes Keystone and GNU as
 * agree on: `\n \r \t \\ \"` and octal `\NNN`. Returns a message otherwise.
 */
function parseString(s: string): number | string {
  if (!/^".*"$/s.test(s) || s.length < 2) return `expected a quoted string, got ${s}`;
  let n = 0;
  for (let i = 1; i < s.length - 1; i++) {
    if (s[i] === '"') return `unescaped quote in ${s}`;
    if (s[i] === "\\") {
      const rest = s.slice(i + 1);
      const oct = /^[0-7]{1,3}/.exec(rest);
      if (oct) i += oct[0].length;
      else if (/^[nrt\\"]/.test(rest)) i += 1;
      else return `unsupported escape \\${rest[0] ?? ""} in ${s} (use \\n \\r \\t \\\\ \\" or octal \\NNN)`;
    }
    n++;
  }
  return n;
}
