import type { Argv, CommandModule } from "yargs";
import { InputError, hex } from "../bytes/index.js";
import {
  checkFdtHeader,
  decodeGuessed,
  decodeString,
  decodeStrings,
  decodeU32s,
  decodeU64s,
  describeFdt,
  describeProperty,
  encodeStrings,
  encodeU32,
  encodeU64,
  ensureNode,
  findNode,
  formatDts,
  formatValue,
  getProperty,
  parseFdt,
  serializeFdt,
  setProperty,
} from "../fdt/index.js";
import { readInput, writeAtomically } from "./_files.js";
import { report, run } from "./_run.js";

/**
 * `purgatory fdt`: inspect, edit and repack device tree blobs, like dtc's
 * `fdtget`/`fdtput`, so packagers can check and fix the DTBs they ship.
 */

const GET_TYPES = ["auto", "u32", "u64", "string", "strings", "bytes"] as const;
const SET_TYPES = ["u32", "u64", "string", "bytes"] as const;

interface Common {
  json?: boolean;
  file: string;
}
interface GetArgs extends Common {
  node: string;
  prop: string;
  type: (typeof GET_TYPES)[number];
}
interface SetArgs extends Common {
  node: string;
  prop: string;
  value: string[];
  type: (typeof SET_TYPES)[number];
  output?: string;
  parents: boolean;
}
interface PackArgs extends Common {
  output: string;
  size?: string;
}

const json = { type: "boolean", describe: "Print the report as JSON" } as const;

const dump: CommandModule<object, Common> = {
  command: "dump <file>",
  describe: "Print a DTB as dts text (what `dtc -I dtb -O dts` prints), or as JSON",
  builder: (y) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "The .dtb file (- for stdin)" })
      .option("json", json)
      .example("$0 fdt dump board.dtb", "dts text, diffable against dtc's")
      .example("$0 fdt dump --json /sys/firmware/fdt", "header fields, reservations, and every property with its guessed type") as Argv<Common>,
  handler: (argv) =>
    run(argv, () => {
      const bytes = readInput(argv.file);
      const tree = parseFdt(bytes);
      const h = checkFdtHeader(bytes);
      // The JSON rule (README): sizes and magic numbers as "0x…"; offsets into the file, versions and the CPU id as numbers.
      const header = {
        magic: BigInt(h.magic), totalsize: BigInt(h.totalsize), off_dt_struct: h.off_dt_struct, off_dt_strings: h.off_dt_strings,
        off_mem_rsvmap: h.off_mem_rsvmap, version: h.version, last_comp_version: h.last_comp_version, boot_cpuid_phys: h.boot_cpuid_phys,
        size_dt_strings: BigInt(h.size_dt_strings), size_dt_struct: h.size_dt_struct === undefined ? undefined : BigInt(h.size_dt_struct), headerSize: BigInt(h.headerSize),
      };
      report(argv, { file: argv.file, header, ...describeFdt(tree) }, () => formatDts(tree));
    }),
};

const get: CommandModule<object, GetArgs> = {
  command: "get <file> <node> <prop>",
  describe: "Print one property's value",
  builder: (y) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "The .dtb file" })
      .positional("node", { type: "string", demandOption: true, describe: "Absolute node path, e.g. /chosen" })
      .positional("prop", { type: "string", demandOption: true, describe: "Property name, e.g. bootargs" })
      .option("type", {
        alias: "t",
        choices: GET_TYPES,
        default: "auto" as const,
        describe: "How to read the value: auto prints dts syntax (dtc's guess); u32/u64 print hex cells, one line",
      })
      .option("json", json)
      .example("$0 fdt get board.dtb /chosen bootargs", 'prints "console=ttyAMA0"')
      .example("$0 fdt get -t u64 board.dtb /chosen linux,initrd-start", "prints 0x48000000")
      .example("$0 fdt get -t u32 board.dtb /memory reg", "matches memory@... when only one exists") as unknown as Argv<GetArgs>,
  handler: (argv) =>
    run(argv, () => {
      const tree = parseFdt(readInput(argv.file));
      const where = `${argv.node.replace(/\/$/, "")}/${argv.prop}`;
      if (findNode(tree, argv.node) === undefined) {
        throw new InputError("NOT_FOUND", `Cannot get ${where}: node ${argv.node} does not exist`, argv.node, `List the nodes with \`purgatory fdt dump ${argv.file}\``);
      }
      const value = getProperty(tree, argv.node, argv.prop);
      if (value === undefined) {
        throw new InputError("NOT_FOUND", `Cannot get ${where}: no such property`, where, `List the properties with \`purgatory fdt dump ${argv.file}\``);
      }
      const typed = argv.type === "auto"
        ? { ...(describeProperty(tree, argv.node, argv.prop) ?? decodeGuessed(value)), text: formatValue(value) }
        : readAs(value, argv.type, where);
      report(argv, { path: where, length: BigInt(value.length), ...typed }, () => typed.text);
    }),
};

const set: CommandModule<object, SetArgs> = {
  command: "set <file> <node> <prop> [value..]",
  describe: "Set one property and write the blob back, packed (atomically)",
  builder: (y) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "The .dtb file" })
      .positional("node", { type: "string", demandOption: true, describe: "Absolute node path, e.g. /chosen" })
      .positional("prop", { type: "string", demandOption: true, describe: "Property name" })
      .positional("value", {
        type: "string",
        array: true,
        default: [],
        describe: "u32/u64: numbers (decimal or 0x hex), one cell or u64 each; string: one or more strings (a string list); bytes: hex, e.g. 01 02 or 0102 (none: an empty property)",
      })
      .option("type", { alias: "t", choices: SET_TYPES, demandOption: true, describe: "How to encode the values" })
      .option("output", { alias: "o", type: "string", describe: "Write here instead of over FILE" })
      .option("parents", { alias: "p", type: "boolean", default: false, describe: "Create missing nodes along the path (like fdtput -p)" })
      .option("json", json)
      .example("$0 fdt set -t string board.dtb /chosen bootargs 'console=ttyAMA0'", "the command line")
      .example("$0 fdt set -t u64 -o out.dtb board.dtb /chosen linux,initrd-start 0x48000000", "a u64, into out.dtb")
      .example("$0 fdt set -t string board.dtb / compatible acme,board acme,soc", "a string list")
      .example("$0 fdt set -t bytes -p board.dtb /chosen/extra flag", "an empty property in a new node") as unknown as Argv<SetArgs>,
  handler: (argv) =>
    run(argv, () => {
      let tree = parseFdt(readInput(argv.file));
      const where = `${argv.node.replace(/\/$/, "")}/${argv.prop}`;
      const value = encodeValues(argv.type, argv.value.map(String), where);
      if (argv.parents) tree = ensureNode(tree, argv.node);
      const out = serializeFdt(setProperty(tree, argv.node, argv.prop, value));
      const output = argv.output ?? argv.file;
      writeAtomically(output, out);
      report(argv, { path: where, type: argv.type, value, output, totalsize: BigInt(out.length) }, (d) =>
        `Set ${d.path} (${d.value.length} bytes); wrote ${d.output} (${hex(d.totalsize)} bytes)`,
      );
    }),
};

const pack: CommandModule<object, PackArgs> = {
  command: "pack <file>",
  describe: "Parse and re-serialize a blob: minimal size, no free space, dtc's layout",
  builder: (y) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "The .dtb file" })
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "Where to write the packed blob" })
      .option("size", { type: "string", describe: "Pad with zeros to this many bytes (like dtc -S), leaving room for in-place edits" })
      .option("json", json)
      .example("$0 fdt pack qemu.dtb -o small.dtb", "QEMU's 1 MiB blob shrinks to its content")
      .example("$0 fdt pack board.dtb -o board.dtb --size 0x10000", "64 KiB with free space at the end") as unknown as Argv<PackArgs>,
  handler: (argv) =>
    run(argv, () => {
      const input = readInput(argv.file);
      const tree = parseFdt(input);
      const size = argv.size === undefined ? undefined : Number(parseNumber(argv.size, 0xffff_ffffn, "--size"));
      const out = serializeFdt(tree, size === undefined ? {} : { totalSize: size });
      writeAtomically(argv.output, out);
      report(argv, { input: argv.file, output: argv.output, before: BigInt(input.length), after: BigInt(out.length) }, (d) =>
        `Packed ${d.input} (${hex(d.before)} bytes) into ${d.output} (${hex(d.after)} bytes)`,
      );
    }),
};

const fdt: CommandModule = {
  command: "fdt <command>",
  describe: "Inspect, edit and repack device tree blobs (DTB), like fdtget/fdtput",
  builder: (y) =>
    y
      .command(dump)
      .command(get)
      .command(set)
      .command(pack)
      .demandCommand(1, "Name an fdt command: dump, get, set or pack")
      .epilogue(
        "Blobs of version 17 and 16 are read; every block is checked against totalsize first, and a bad\n" +
          "blob stops with its byte offset (exit 1). Written blobs are version 17, packed in dtc's layout,\n" +
          "and replace their target atomically.",
      ) as Argv,
  handler: () => undefined,
};

export default fdt;

/** The reading of a value for `get -t TYPE`: text for people, a value for JSON. */
function readAs(value: Uint8Array, type: Exclude<GetArgs["type"], "auto">, where: string): { type: string; value: unknown; text: string } {
  switch (type) {
    case "u32": {
      const cells = decodeU32s(value, where);
      return { type, value: cells, text: cells.map((c) => hex(c)).join(" ") };
    }
    case "u64": {
      const values = decodeU64s(value, where);
      return { type, value: values, text: values.map((v) => hex(v)).join(" ") };
    }
    case "string": {
      const s = decodeString(value, where);
      return { type, value: s, text: s };
    }
    case "strings": {
      const list = decodeStrings(value, where);
      return { type, value: list, text: list.join("\n") };
    }
    case "bytes":
      return { type, value: value.slice(), text: Array.from(value, (b) => b.toString(16).padStart(2, "0")).join(" ") };
  }
}

function encodeValues(type: SetArgs["type"], values: string[], where: string): Uint8Array {
  switch (type) {
    case "u32":
      return encodeU32(values.map((v) => Number(parseNumber(v, 0xffff_ffffn, where))), where);
    case "u64":
      return encodeU64(values.map((v) => parseNumber(v, (1n << 64n) - 1n, where)), where);
    case "string":
      if (values.length === 0) throw new InputError("BAD_VALUE", `Cannot set ${where}: no string given`, where, "Pass the string after the property name; for an empty property use -t bytes");
      return encodeStrings(values, where);
    case "bytes": {
      const hexText = values.join("");
      if (!/^([0-9a-fA-F]{2})*$/.test(hexText)) {
        throw new InputError("BAD_VALUE", `Cannot set ${where}: "${values.join(" ")}" is not hex bytes`, where, "Write bytes as hex pairs, e.g. 01 02 ff or 0102ff");
      }
      return Uint8Array.from(hexText.match(/../g) ?? [], (b) => parseInt(b, 16));
    }
  }
}

function parseNumber(text: string, max: bigint, where: string): bigint {
  const ok = /^(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(text);
  const v = ok ? BigInt(text) : -1n;
  if (v < 0n || v > max) {
    throw new InputError("BAD_VALUE", `Cannot use "${text}": it is not a whole number from 0 to ${hex(max)}`, where, "Write numbers in decimal or 0x hex");
  }
  return v;
}
