// qemu_strtosz as file_parse_offset uses it. Expectations from util/cutils.c's documented rules
// (do_strtosz comment) and glibc strtoull/strtod semantics, and QEMU's texts observed in spec §4.4.
import { describe, expect, it } from "vitest";
import { parseFileSpec, qemuStrtosz } from "../../src/impl/caps/index.js";

const K = 1024n;
const M = K * K;

describe("qemuStrtosz", () => {
  it.each<[string, bigint]>([
    ["0", 0n],
    ["4096", 4096n],
    ["12345", 12345n],
    ["4k", 4n * K],
    ["4K", 4n * K],
    ["1M", M],
    ["1G", M * K],
    ["1T", M * M],
    ["1P", M * M * K],
    ["1e", 1n << 60n],
    ["15E", 15n << 60n],
    ["1b", 1n],
    ["1B", 1n],
    ["0x1000", 4096n],
    ["0X10", 16n],
    ["0x1fff00", 0x1fff00n],
    // hex digits b/B and e/E are digits, not suffixes
    ["0x1b", 27n],
    ["0x20E", 0x20en],
    ["08", 8n],
    [" 4096", 4096n],
    ["\t+12", 12n],
    ["1.5k", 1536n],
    ["0.5M", 512n * K],
    [".5k", 512n],
    ["+.5k", 512n],
    ["1.k", 1024n],
    ["1.", 1n],
    ["1.0", 1n],
    // the scaled fraction rounds half up
    ["0.0001k", 0n],
    ["0.0005k", 1n],
    ["18446744073709551615", (1n << 64n) - 1n],
  ])("%j → %s", (text, value) => {
    expect(qemuStrtosz(text)).toEqual({ ok: true, value });
  });

  it.each<[string, "EINVAL" | "ERANGE"]>([
    ["", "EINVAL"],
    ["abc", "EINVAL"],
    ["0x20M", "EINVAL"],
    ["0x1k", "EINVAL"],
    ["0x", "EINVAL"],
    ["0x1.8", "EINVAL"],
    ["0b1000", "EINVAL"],
    ["1e3", "EINVAL"],
    ["1.5", "EINVAL"],
    [".5", "EINVAL"],
    ["1kB", "EINVAL"],
    ["4096 ", "EINVAL"],
    ["inf", "EINVAL"],
    ["inf.", "EINVAL"],
    ["nan.k", "EINVAL"],
    [".", "EINVAL"],
    ["- 1", "EINVAL"],
    ["-1", "ERANGE"],
    ["-0", "ERANGE"],
    ["-.5", "ERANGE"],
    ["18446744073709551616", "ERANGE"],
    ["16E", "ERANGE"],
    // the fraction rounds to 1.0 (16E = 2^64)
    ["15.9999999999999999999E", "ERANGE"],
    // ERANGE becomes EINVAL when text follows the number
    ["-1k", "EINVAL"],
    ["-.5k", "EINVAL"],
    ["-0x10", "EINVAL"],
    ["18446744073709551616k", "EINVAL"],
  ])("%j → %s", (text, errno) => {
    expect(qemuStrtosz(text)).toEqual({ ok: false, errno });
  });
});

describe("parseFileSpec (file_parse_offset)", () => {
  it("splits at the first ,offset= and gives QEMU's texts", () => {
    expect(parseFileSpec("/tmp/a")).toEqual({ filename: "/tmp/a", offset: 0n });
    expect(parseFileSpec("/tmp/a,offset=4k")).toEqual({ filename: "/tmp/a", offset: 4096n });
    expect(parseFileSpec("/tmp/a,offset=0x20M")).toEqual({
      rule: "uri.file.badOffset",
      error: "file URI has bad offset 0x20M: Invalid argument",
    });
    expect(parseFileSpec("/tmp/a,offset=-1")).toEqual({
      rule: "uri.file.badOffset",
      error: "file URI has bad offset -1: Numerical result out of range",
    });
    expect(parseFileSpec("/tmp/a,offset=1,offset=2")).toEqual({
      rule: "uri.file.badOffset",
      error: "file URI has bad offset 1,offset=2: Invalid argument",
    });
  });
});
