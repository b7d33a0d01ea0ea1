import { describe, expect, it } from "vitest";
import {
  checkPolicy,
  checkUartAddress,
  chooseUart,
  forPurgatory,
  formatUart,
  parseConsoleRequest,
  uartWindow,
  type Uart,
} from "../../toolchain/bundle/index.js";
import type { TargetConsole } from "../../toolchain/target/index.js";
import { codeOf, thrown } from "../_thrown.js";

const uart = (family: Uart["family"], base: bigint, shift = 0, width: Uart["width"] = 4): Uart => ({ family, base, shift, width });
const targetConsole = (c: Partial<TargetConsole>): { console: TargetConsole } => ({
  console: { family: "pl011", compatible: "arm,pl011", path: "/pl011@9000000", base: 0x900_0000n, shift: 0, width: 2, ...c },
});

describe("parseConsoleRequest and formatUart", () => {
  it.each([
    ["auto", "auto"],
    ["none", "none"],
    ["pl011@0x9000000", uart("pl011", 0x900_0000n)],
    ["8250@0x1c28000", uart("8250", 0x1c2_8000n, 0, 1)],
    ["8250@0x3f215040,shift=2", uart("8250", 0x3f21_5040n, 2, 1)],
    ["8250@0x3f215040,shift=2,width=4", uart("8250", 0x3f21_5040n, 2, 4)],
    ["8250@0xfe215040,shift=2,width=1", uart("8250", 0xfe21_5040n, 2, 1)],
    ["8250@4096,width=4", uart("8250", 0x1000n, 0, 4)],
    ["cadence@0xff000000", uart("cadence", 0xff00_0000n)],
  ] as const)("reads %s", (text, want) => {
    const got = parseConsoleRequest(text);
    expect(got).toEqual(want);
    if (typeof got !== "string") expect(parseConsoleRequest(formatUart(got))).toEqual(got);
  });

  it("writes shift and width only where they differ from what the family implies", () => {
    expect(formatUart(uart("8250", 0x3f21_5040n, 2, 1))).toBe("8250@0x3f215040,shift=2");
    expect(formatUart(uart("8250", 0x3f21_5040n, 2, 4))).toBe("8250@0x3f215040,shift=2,width=4");
    expect(formatUart(uart("8250", 0x1000n, 0, 4))).toBe("8250@0x1000,width=4");
    expect(formatUart(uart("pl011", 0x900_0000n, 0, 2))).toBe("pl011@0x9000000,width=2");
  });

  it.each([
    ["pl011", /not auto, none or FAMILY@ADDR/],
    ["uart@0x1000", /not auto, none/],
    ["8250@0x1000,shift=2,shift=2", /given twice/],
    ["8250@0x1000,shift=5", /shift 5 is not 0..4/],
    ["8250@0x1000,width=3", /width 3 is not 1, 2 or 4/],
    ["pl011@0x9000000,shift=2", /a pl011 UART has no register shift/],
    ["pl011@0x9000001", /not aligned to the 4-byte accesses/],
    ["cadence@0x10000000000000000", /does not fit 64 bits/],
  ])("refuses %s with BAD_CONSOLE", (text, why) => {
    const e = thrown(() => parseConsoleRequest(text));
    expect([e.code, e.where]).toEqual(["BAD_CONSOLE", "--console"]);
    expect(e.message).toMatch(why);
    expect(e.hint).toMatch(/auto .*none.*FAMILY@ADDR/);
  });
});

describe("uartWindow", () => {
  it("spans a 4 KiB register page for PL011 and Cadence, eight registers for an 8250", () => {
    expect(uartWindow(uart("pl011", 0x900_0000n))).toEqual({ start: 0x900_0000n, end: 0x900_1000n });
    expect(uartWindow(uart("cadence", 0xff00_0000n))).toEqual({ start: 0xff00_0000n, end: 0xff00_1000n });
    expect(uartWindow(uart("8250", 0x3f21_5040n, 2, 4))).toEqual({ start: 0x3f21_5040n, end: 0x3f21_5060n });
  });
});

describe("chooseUart and forPurgatory: the console for the purgatory (ABI 3)", () => {
  it("auto takes the target's console when it has a family and an address", () => {
    expect(chooseUart("auto", targetConsole({}))).toEqual({ uart: uart("pl011", 0x900_0000n, 0, 2), why: null });
  });

  it.each([
    [{ console: null }, /the target names no console/],
    [targetConsole({ family: null, compatible: "acme,uart" }), /\/pl011@9000000 \(acme,uart\) is of no UART family/],
    [targetConsole({ base: null }), /has no CPU address/],
  ] as const)("auto gives no console, never a guessed address, and says why (%#)", (t, why) => {
    const chosen = chooseUart("auto", t);
    expect(chosen.uart).toBeNull();
    expect(forPurgatory(chosen)).toEqual({ console: { kind: "none", base: 0n, shift: 0, width: 1 }, note: expect.stringMatching(why) });
  });

  it("takes none and explicit UARTs as given", () => {
    expect(forPurgatory(chooseUart("none", targetConsole({})))).toEqual({ console: { kind: "none", base: 0n, shift: 0, width: 1 }, note: "the purgatory prints nothing: --console none" });
    expect(chooseUart(uart("8250", 0x1000n, 0, 1), { console: null }).uart).toEqual(uart("8250", 0x1000n, 0, 1));
  });

  it.each([
    [uart("pl011", 0x900_0000n, 0, 2), { kind: "pl011", base: 0x900_0000n, shift: 0, width: 4 }],
    [uart("pl011", 0x900_0000n, 0, 4), { kind: "pl011", base: 0x900_0000n, shift: 0, width: 4 }],
    [uart("8250", 0x1c2_8000n, 0, 1), { kind: "8250", base: 0x1c2_8000n, shift: 0, width: 1 }],
    [uart("8250", 0x3f21_5040n, 2, 4), { kind: "8250", base: 0x3f21_5040n, shift: 2, width: 4 }],
    [uart("8250", 0x1000n, 2, 1), { kind: "8250", base: 0x1000n, shift: 2, width: 1 }],
    [uart("8250", 0x1000n, 0, 4), { kind: "8250", base: 0x1000n, shift: 0, width: 4 }],
    [uart("cadence", 0xff00_0000n), { kind: "cadence", base: 0xff00_0000n, shift: 0, width: 4 }],
  ] as const)("drives %o", (u, console) => {
    expect(forPurgatory({ uart: u, why: null })).toEqual({ console, note: null });
  });

  it.each([
    [uart("8250", 0x1000n, 1, 2), /8250@0x1000,shift=1,width=2 is an 8250 with shift 1 and 2-byte accesses; the purgatory drives an 8250 at shift 0..3 with 1- or 4-byte accesses/],
    [uart("8250", 0x1000n, 4, 4), /shift 4 and 4-byte accesses/],
  ] as const)("leaves out what it cannot drive, with a note: %o", (u, note) => {
    expect(forPurgatory({ uart: u, why: null })).toEqual({ console: { kind: "none", base: 0n, shift: 0, width: 1 }, note: expect.stringMatching(note) });
  });
});

describe("checkUartAddress", () => {
  const ram = [{ start: 0n, end: 0x4000_0000n }];
  it("refuses registers in RAM or in a segment, naming it", () => {
    expect(() => checkUartAddress(uart("cadence", 0xff00_0000n), ram, [], "--console")).not.toThrow();
    const e = thrown(() => checkUartAddress(uart("pl011", 0x900_0000n), ram, [], "--console"));
    expect([e.code, e.where]).toEqual(["BAD_CONSOLE", "--console"]);
    expect(e.message).toMatch(/^Cannot use console pl011@0x9000000: its registers 0x9000000-0x9001000 are inside System RAM 0x0-0x40000000 /);
    const seg = [{ start: 0xff00_0000n, end: 0xff00_2000n, name: "segment dtb" }];
    expect(thrown(() => checkUartAddress(uart("cadence", 0xff00_1000n), ram, seg, "x")).message).toMatch(/0xff001000-0xff002000 are inside segment dtb /);
  });
});

describe("checkPolicy", () => {
  it("needs PSCI for a reset, and nothing else", () => {
    expect(() => checkPolicy("spin", null)).not.toThrow();
    expect(() => checkPolicy("reset", "smc")).not.toThrow();
    expect(codeOf(() => checkPolicy("reset", null))).toBe("NO_PSCI");
    expect(thrown(() => checkPolicy("reset", null)).message).toMatch(/has no PSCI node .*no SYSTEM_RESET to call/);
  });
});
