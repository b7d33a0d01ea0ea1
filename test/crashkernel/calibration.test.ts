import { describe, expect, it } from "vitest";
import {
  CALIBRATED, CALIBRATED_NAMES, CALIBRATION_FORMAT, constantsFor, parseCalibration, serializeCalibration,
} from "../../toolchain/crashkernel/index.js";
import type { Calibration } from "../../toolchain/crashkernel/index.js";
import { thrown } from "../_thrown.js";

const MEASURED: Calibration = {
  measuredOn: {
    kernelRelease: "6.1.0-56-cloud-arm64",
    kernelVersion: "#1 SMP Debian 6.1.192-2",
    pageSize: 4096,
    machine: "qemu-system-aarch64 -M virt -cpu cortex-a57 -m 256M",
    method: "MemTotal - MemFree - Cached - Buffers - AnonPages - Percpu after init",
  },
  constants: { kernelRuntime: 20 << 20, perCpu: 700 << 10 },
};

describe("the calibration file", () => {
  it("round-trips through its sorted-key JSON", () => {
    const text = serializeCalibration(MEASURED);
    expect(JSON.parse(text)).toEqual({
      constants: { kernelRuntime: 20 << 20, perCpu: 700 << 10 },
      format: CALIBRATION_FORMAT,
      measuredOn: {
        kernelRelease: "6.1.0-56-cloud-arm64",
        kernelVersion: "#1 SMP Debian 6.1.192-2",
        machine: "qemu-system-aarch64 -M virt -cpu cortex-a57 -m 256M",
        method: "MemTotal - MemFree - Cached - Buffers - AnonPages - Percpu after init",
        pageSize: 4096,
      },
    });
    expect(text.endsWith("}\n")).toBe(true);
    expect(Object.keys(JSON.parse(text))).toEqual(["constants", "format", "measuredOn"]);
    expect(parseCalibration(text)).toEqual(MEASURED);
  });

  it("needs only the release and the page size it was measured on", () => {
    const minimal = { constants: { cma: 0 }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "6.12.1", pageSize: 65536 } };
    expect(parseCalibration(JSON.stringify(minimal))).toEqual({ measuredOn: { kernelRelease: "6.12.1", pageSize: 65536 }, constants: { cma: 0 } });
  });

  it.each([
    ["not JSON", "{", "BAD_JSON", undefined],
    ["another format", { constants: { perCpu: 1 }, format: "purgatory-crashkernel-calibration/2", measuredOn: { kernelRelease: "x", pageSize: 4096 } }, "BAD_CALIBRATION", "cal.json: format"],
    ["no measuredOn", { constants: { perCpu: 1 }, format: CALIBRATION_FORMAT }, "BAD_CALIBRATION", "cal.json: measuredOn"],
    ["no release", { constants: { perCpu: 1 }, format: CALIBRATION_FORMAT, measuredOn: { pageSize: 4096 } }, "BAD_CALIBRATION", "cal.json: measuredOn.kernelRelease"],
    ["a page size arm64 lacks", { constants: { perCpu: 1 }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 8192 } }, "BAD_CALIBRATION", "cal.json: measuredOn.pageSize"],
    ["an unknown constant", { constants: { slab: 1 }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 4096 } }, "BAD_CALIBRATION", "cal.json: constants.slab"],
    ["a fractional constant", { constants: { perCpu: 1.5 }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 4096 } }, "BAD_CALIBRATION", "cal.json: constants.perCpu"],
    ["a negative constant", { constants: { perCpu: -1 }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 4096 } }, "BAD_CALIBRATION", "cal.json: constants.perCpu"],
    ["a constant as a string", { constants: { perCpu: "1M" }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 4096 } }, "BAD_CALIBRATION", "cal.json: constants.perCpu"],
    ["no constant at all", { constants: {}, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 4096 } }, "BAD_CALIBRATION", "cal.json: constants"],
    ["an unknown top-level field", { constants: { perCpu: 1 }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 4096 }, date: "today" }, "BAD_CALIBRATION", "cal.json: date"],
  ] as const)("refuses %s with the field's path", (_, doc, code, where) => {
    const e = thrown(() => parseCalibration(typeof doc === "string" ? doc : JSON.stringify(doc), "cal.json"));
    expect(e.code).toBe(code);
    if (where !== undefined) expect(e.where).toBe(where);
    expect(e.message).toMatch(/cal\.json/);
  });
});

describe("constantsFor applies a calibration over the defaults", () => {
  it("takes each default for the page size when there is no calibration", () => {
    for (const page of [4096, 16384, 65536] as const) {
      const c = constantsFor(page, null);
      for (const name of CALIBRATED_NAMES) {
        expect(c.values[name]).toBe(CALIBRATED[name].defaults[page]);
        expect(c.from[name]).toBe("default");
      }
    }
  });

  it("replaces only the constants the calibration gives", () => {
    const c = constantsFor(4096, MEASURED);
    expect(c.values.kernelRuntime).toBe(20 << 20);
    expect(c.from.kernelRuntime).toBe("calibration");
    expect(c.values.perCpu).toBe(700 << 10);
    expect(c.values.collector).toBe(CALIBRATED.collector.defaults[4096]);
    expect(c.from.collector).toBe("default");
  });

  it("refuses a calibration measured with another page size", () => {
    const e = thrown(() => constantsFor(65536, MEASURED, "virt.json"));
    expect(e.code).toBe("BAD_CALIBRATION");
    expect(e.message).toMatch(/measured with 4 KiB pages and the capture kernel uses 64 KiB pages/);
    expect(e.where).toBe("virt.json: measuredOn.pageSize");
  });

  it("documents every constant: what it covers, where the default comes from, a default per page size", () => {
    for (const name of CALIBRATED_NAMES) {
      expect(CALIBRATED[name].what.length).toBeGreaterThan(20);
      expect(CALIBRATED[name].source).toMatch(/guess|config|measure/);
      expect(Object.keys(CALIBRATED[name].defaults).sort()).toEqual(["16384", "4096", "65536"]);
    }
  });
});
