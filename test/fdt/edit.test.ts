import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import {
  type FdtTree,
  addNode,
  addReservation,
  cellsFor,
  deleteNode,
  deleteProperty,
  encodeString,
  encodeStrings,
  encodeU32,
  encodeU64,
  ensureNode,
  findNode,
  getProperty,
  parseFdt,
  removeReservations,
  serializeFdt,
  setAddrRanges,
  setProperty,
} from "../../toolchain/fdt/index.js";
import { FIXTURES, dtcCompile, dtcDecompile, fdtget } from "./_corpus.js";

const board = () => parseFdt(dtcCompile(FIXTURES + "phandles.dts"));
const minimal = () => parseFdt(dtcCompile(FIXTURES + "minimal.dts"));

function refusal(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("no InputError");
}

describe("setProperty and friends: our edits read back with fdtget exactly", () => {
  const input = dtcCompile(FIXTURES + "phandles.dts");
  let t = parseFdt(input);
  t = setProperty(t, "/chosen", "test,u32", encodeU32([1, 0xffff_ffff, 0x8003]));
  t = setProperty(t, "/chosen", "kaslr-seed", encodeU64(0x1234_5678_9abc_def0n));
  t = setProperty(t, "/chosen", "bootargs", encodeString("console=ttyAMA0 crashkernel=256M"));
  t = setProperty(t, "/chosen", "test,list", encodeStrings(["a", "bb", "ccc"]));
  t = setProperty(t, "/chosen", "test,bytes", new Uint8Array([0xde, 0xad, 0x00, 0x01, 0x02]));
  t = setProperty(t, "/chosen", "linux,initrd-end", encodeU64(0x4900_0000n));
  t = setProperty(t, "/chosen", "linux,booted-from-kexec", new Uint8Array(0));
  t = setAddrRanges(t, "/chosen", "linux,elfcorehdr", [{ address: 0x1_2345_6000n, size: 0x1_0000n }]);
  t = setAddrRanges(t, "/chosen", "linux,usable-memory-range", [
    { address: 0x1_0000_0000n, size: 0x1000_0000n },
    { address: 0x6000_0000n, size: 0x800_0000n },
  ]);
  t = deleteProperty(t, "/chosen", "linux,initrd-start");
  const out = serializeFdt(t);

  it.each([
    ["test,u32", ["-t", "u"], "1 4294967295 32771"],
    ["test,u32", ["-t", "x"], "1 ffffffff 8003"],
    ["kaslr-seed", ["-t", "x"], "12345678 9abcdef0"],
    ["bootargs", ["-t", "s"], "console=ttyAMA0 crashkernel=256M"],
    ["test,list", ["-t", "s"], "a bb ccc"],
    ["test,bytes", ["-t", "bx"], "de ad 0 1 2"],
    ["linux,initrd-end", ["-t", "x"], "0 49000000"],
    ["linux,booted-from-kexec", [], ""],
    ["linux,elfcorehdr", ["-t", "x"], "1 23456000 0 10000"],
    ["linux,usable-memory-range", ["-t", "x"], "1 0 0 10000000 0 60000000 0 8000000"],
  ])("/chosen/%s reads back with fdtget %j", (prop, options, expected) => {
    expect(fdtget(out, options, "/chosen", prop)).toBe(expected);
  });

  it("keeps property order: replaced in place, new ones appended, deleted ones gone", () => {
    expect(fdtget(out, ["-p"], "/chosen").split("\n")).toEqual([
      "stdout-path", "bootargs", "linux,initrd-end",
      "test,u32", "kaslr-seed", "test,list", "test,bytes", "linux,booted-from-kexec", "linux,elfcorehdr", "linux,usable-memory-range",
    ]);
  });

  it("gives dtc nothing new to warn about", () => {
    expect(dtcDecompile(out).warnings).toBe(dtcDecompile(input).warnings);
  });

  it("leaves the input tree unchanged and shares every untouched node", () => {
    const before = board();
    expect(serializeFdt(before)).toEqual(input);
    const after = setProperty(before, "/chosen", "bootargs", encodeString("quiet"));
    expect(serializeFdt(before)).toEqual(input);
    const chosen = before.root.children.findIndex((c) => c.name === "chosen");
    before.root.children.forEach((c, i) => (i === chosen ? expect(after.root.children[i]).not.toBe(c) : expect(after.root.children[i]).toBe(c)));
  });
});

describe("node and reservation edits read back with fdtget and dtc", () => {
  it("adds nodes along a path, and deletes them with their subtree", () => {
    let t = ensureNode(board(), "/chosen/a/b@1");
    t = setProperty(t, "/chosen/a/b@1", "reg", encodeU32(1));
    t = addNode(t, "/chosen/c");
    const added = serializeFdt(t);
    expect(fdtget(added, ["-l"], "/chosen")).toBe("a\nc");
    expect(fdtget(added, ["-l"], "/chosen/a")).toBe("b@1");
    const removed = serializeFdt(deleteNode(t, "/chosen/a"));
    expect(fdtget(removed, ["-l"], "/chosen")).toBe("c");
    expect(removed).toEqual(serializeFdt(addNode(board(), "/chosen/c")));
  });

  it("adds and removes reservation entries in order", () => {
    let t = addReservation(minimal(), { address: 0x4800_0000n, size: 0x10_0000n });
    t = addReservation(t, { address: 0x1_0000_0000n, size: 0x2000n });
    t = addReservation(t, { address: 0x4000_0000n, size: 0x1000n });
    t = removeReservations(t, (e) => e.address === 0x1_0000_0000n);
    expect(dtcDecompile(serializeFdt(t)).text).toBe(
      "/dts-v1/;\n\n" +
        "/memreserve/\t0x0000000048000000 0x0000000000100000;\n" +
        "/memreserve/\t0x0000000040000000 0x0000000000001000;\n" +
        "/ {\n};\n",
    );
  });

  it("returns the same tree when there is nothing to delete", () => {
    const t = board();
    expect(deleteProperty(t, "/chosen", "no-such")).toBe(t);
    expect(deleteProperty(t, "/no-such", "x")).toBe(t);
    expect(deleteNode(t, "/no-such")).toBe(t);
    expect(removeReservations(t, () => false)).toBe(t);
    expect(ensureNode(t, "/chosen")).toBe(t);
  });
});

describe("paths follow libfdt's matching, without its guessing", () => {
  it("finds a node by its name without unit address when only one matches", () => {
    expect(findNode(board(), "/memory")?.name).toBe("memory@40000000");
    expect(getProperty(board(), "/memory", "device_type")).toEqual(encodeString("memory"));
  });

  it("refuses a unit-less name that matches several nodes", () => {
    const shapes = parseFdt(dtcCompile(FIXTURES + "shapes.dts"));
    const e = refusal(() => findNode(shapes, "/node-a"));
    expect([e.code, e.message]).toEqual(["AMBIGUOUS", 'Cannot use node path "/node-a": "node-a" matches node-a@1000, node-a@2000 (at /node-a). Name the node with its unit address']);
  });

  it.each([
    ["a relative path", () => findNode(minimal(), "chosen"), "BAD_PATH", "chosen"],
    ["an empty component", () => findNode(minimal(), "/a//b"), "BAD_PATH", "/a//b"],
    ["a property in a missing node", () => setProperty(minimal(), "/chosen", "bootargs", encodeString("x")), "NOT_FOUND", "/chosen"],
    ["a missing parent", () => addNode(minimal(), "/a/b"), "NOT_FOUND", "/a"],
    ["an existing node", () => addNode(board(), "/chosen"), "EXISTS", "/chosen"],
    ["the root", () => addNode(board(), "/"), "EXISTS", "/"],
    ["deleting the root", () => deleteNode(board(), "/"), "BAD_PATH", "/"],
    ["a bad property name", () => setProperty(board(), "/chosen", "boot args", new Uint8Array(0)), "BAD_NAME", "/chosen/boot args"],
    ["a bad node name", () => addNode(board(), "/1chosen"), "BAD_NAME", "/1chosen"],
    ["two unit addresses", () => addNode(board(), "/a@1@2"), "BAD_NAME", "/a@1@2"],
    ["a size-0 reservation", () => addReservation(board(), { address: 1n, size: 0n }), "BAD_VALUE", "reservations[0]"],
  ] as const)("refuses %s", (_, f, code, where) => {
    const e = refusal(f);
    expect([e.code, e.where]).toEqual([code, where]);
    if (code === "NOT_FOUND") expect(e.hint).toMatch(/purgatory fdt dump/);
  });

  it("creates what setProperty cannot find when asked: ensureNode then setProperty", () => {
    const t = setProperty(ensureNode(minimal(), "/chosen"), "/chosen", "bootargs", encodeString("x"));
    expect(fdtget(serializeFdt(t), ["-t", "s"], "/chosen", "bootargs")).toBe("x");
  });
});

describe("cellsFor reads #address-cells/#size-cells as the kernel does", () => {
  it("defaults to 1/1 when the root has none (OF_ROOT_NODE_*_CELLS_DEFAULT)", () => {
    expect(cellsFor(ensureNode(minimal(), "/chosen"), "/chosen")).toEqual({ addressCells: 1, sizeCells: 1, addressFrom: "/", sizeFrom: "/" });
  });

  it("reads the parent's cells for a node, and the root's own for /", () => {
    const t = board();
    expect(cellsFor(t, "/chosen")).toEqual({ addressCells: 2, sizeCells: 2, addressFrom: "/", sizeFrom: "/" });
    expect(cellsFor(t, "/")).toEqual({ addressCells: 2, sizeCells: 2, addressFrom: "/", sizeFrom: "/" });
    expect(cellsFor(t, "/intc@8000000").addressCells).toBe(2);
  });

  it("walks up past a parent without them (of_bus_n_addr_cells)", () => {
    let t = ensureNode(minimal(), "/soc/bus/dev");
    t = setProperty(t, "/soc", "#address-cells", encodeU32(2));
    t = setProperty(t, "/soc/bus", "#size-cells", encodeU32(0));
    expect(cellsFor(t, "/soc/bus/dev")).toEqual({ addressCells: 2, sizeCells: 0, addressFrom: "/soc", sizeFrom: "/soc/bus" });
  });

  it.each([
    ["two cells long", encodeU32([0, 2])],
    ["above FDT_MAX_NCELLS", encodeU32(5)],
    ["empty", new Uint8Array(0)],
  ])("refuses #address-cells %s with its path", (_, value) => {
    const t = setProperty(ensureNode(minimal(), "/chosen"), "/", "#address-cells", value);
    const e = refusal(() => cellsFor(t, "/chosen"));
    expect([e.code, e.where]).toEqual(["BAD_CELLS", "/#address-cells"]);
  });
});

describe("setAddrRanges refuses values that do not fit the cells, naming the property and the fix", () => {
  const chosen = (t: FdtTree) => ensureNode(t, "/chosen");

  it("refuses an elfcorehdr above 4 GiB with the default 1 address cell", () => {
    const e = refusal(() => setAddrRanges(chosen(minimal()), "/chosen", "linux,elfcorehdr", [{ address: 0x1_0000_0000n, size: 0x1000n }]));
    expect(e.code).toBe("VALUE_TOO_WIDE");
    expect(e.where).toBe("/chosen/linux,elfcorehdr");
    expect(e.hint).toBe("Set #address-cells = <2> in the root node");
    expect(e.message).toBe(
      "Cannot encode address 0x100000000: it does not fit #address-cells = <1> (32 bits) that applies here (at /chosen/linux,elfcorehdr). Set #address-cells = <2> in the root node",
    );
  });

  it("refuses a size of 4 GiB with 1 size cell", () => {
    const e = refusal(() => setAddrRanges(chosen(minimal()), "/chosen", "linux,usable-memory-range", [{ address: 0n, size: 0x1_0000_0000n }]));
    expect([e.code, e.hint]).toEqual(["VALUE_TOO_WIDE", "Set #size-cells = <2> in the root node"]);
  });

  it("names the node whose cells apply when it is not the root", () => {
    let t = ensureNode(minimal(), "/soc/dev");
    t = setProperty(t, "/soc", "#address-cells", encodeU32(1));
    const e = refusal(() => setAddrRanges(t, "/soc/dev", "reg", [{ address: 0x1_0000_0000n, size: 1n }]));
    expect([e.where, e.hint]).toEqual(["/soc/dev/reg", "Set #address-cells = <2> in /soc"]);
  });

  it("fits values below 4 GiB in 1/1 cells, as fdtget shows", () => {
    const t = setAddrRanges(chosen(minimal()), "/chosen", "linux,elfcorehdr", [{ address: 0xffff_f000n, size: 0x1000n }]);
    expect(fdtget(serializeFdt(t), ["-t", "x"], "/chosen", "linux,elfcorehdr")).toBe("fffff000 1000");
  });
});
