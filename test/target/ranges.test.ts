import { describe, expect, it } from "vitest";
import { intersect, normalize, subtract, totalSize } from "../../toolchain/target/index.js";

const r = (s: number, e: number) => ({ start: BigInt(s), end: BigInt(e) });

describe("subtract", () => {
  it("cuts holes out of ranges and drops empty pieces", () => {
    expect(subtract([r(0, 100)], [r(0, 10), r(90, 100)])).toEqual([r(10, 90)]);
    expect(subtract([r(0, 100), r(200, 300)], [r(50, 250)])).toEqual([r(0, 50), r(250, 300)]);
    expect(subtract([r(0, 100)], [r(0, 100)])).toEqual([]);
    expect(subtract([r(0, 100)], [r(100, 200)])).toEqual([r(0, 100)]);
  });
});

describe("normalize", () => {
  it("sorts, drops empty ranges and merges overlapping or touching ones", () => {
    expect(normalize([r(50, 60), r(0, 10), r(10, 20), r(30, 30), r(55, 70)])).toEqual([r(0, 20), r(50, 70)]);
  });
});

describe("intersect/totalSize", () => {
  it("keeps what both cover and counts bytes", () => {
    expect(intersect([r(0, 100)], [r(50, 150), r(10, 20)])).toEqual([r(10, 20), r(50, 100)]);
    expect(totalSize([r(0, 10), r(20, 25)])).toBe(15n);
  });
});
