// The oracle's zero and equality checks: every boundary the page scans rely on.
import { describe, expect, it } from "vitest";
import { equalRange, isZero } from "../../src/oracle/bytes.js";

describe("isZero", () => {
  const big = 3 * 64 * 1024 + 123; // spans more than one comparison against the 64 KiB of zeros

  it("is true for empty and all-zero ranges, at any alignment", () => {
    const u8 = new Uint8Array(big + 8);
    expect(isZero(u8)).toBe(true);
    expect(isZero(u8, 5, 5)).toBe(true);
    expect(isZero(u8, 1, big + 7)).toBe(true);
    expect(isZero(u8.subarray(3), 0, big)).toBe(true);
  });

  it.each([0, 1, 4095, 4096, 65535, 65536, big - 1])("finds one non-zero byte at %i", (at) => {
    const u8 = new Uint8Array(big);
    u8[at] = 0x80;
    expect(isZero(u8)).toBe(false);
    expect(isZero(u8, at, at + 1)).toBe(false);
    expect(isZero(u8, 0, at)).toBe(true);
    expect(isZero(u8, at + 1)).toBe(true);
    expect(isZero(u8.subarray(1), 0, big - 1)).toBe(at === 0);
  });
});

describe("equalRange", () => {
  it("compares only [from, to) of both arrays", () => {
    const a = new Uint8Array(8192).fill(7);
    const b = new Uint8Array(8192).fill(7);
    b[4096] = 8;
    expect(equalRange(a, b, 0, 4096)).toBe(true);
    expect(equalRange(a, b, 4097, 8192)).toBe(true);
    expect(equalRange(a, b, 4096, 4097)).toBe(false);
    expect(equalRange(a, b, 0, 8192)).toBe(false);
    expect(equalRange(a, b, 10, 10)).toBe(true);
  });

  it("compares views by their own offsets", () => {
    const a = new Uint8Array([9, 1, 2, 3]);
    const b = new Uint8Array([1, 2, 3, 9]);
    expect(equalRange(a.subarray(1), b, 0, 3)).toBe(true);
    expect(equalRange(a, b, 0, 3)).toBe(false);
  });
});
