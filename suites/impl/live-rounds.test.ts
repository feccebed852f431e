// `mrc save --round NAME=IMAGE`: later rounds of a live save (spec 2.6, hand-derived expectations).
// Image A: odd pages non-zero (page i filled with 0x30+i), even pages zero. Round image B differs from A in:
// page 3 non-zero -> zero, page 4 zero -> non-zero (0x44), page 7 rewritten (0x37 -> 0x77).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mrc } from "../helpers/cli.js";

let dir: { path: string; cleanup(): Promise<void> };
const A = new Uint8Array(16 * 4096);
for (let i = 0; i < 16; i++) if (i % 2 === 1) A.fill(0x30 + i, i * 4096, (i + 1) * 4096);
const B = A.slice();
B.fill(0, 3 * 4096, 4 * 4096);
B.fill(0x44, 4 * 4096, 5 * 4096);
B.fill(0x77, 7 * 4096, 8 * 4096);

beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
  await writeFile(join(dir.path, "a.img"), A);
  await writeFile(join(dir.path, "b.img"), B);
});
afterAll(async () => {
  await dir.cleanup();
});

// one block "r" of 16 pages at offset 0: header 0x63, bitmap 0x7f (8 bytes), pages 0x100000,
// stream resumes at 0x110000; EOS+footer 13 bytes, then the PART records (18 bytes each).
const PAGES = 0x100000;
const page = (f: Uint8Array, i: number) => f.subarray(PAGES + i * 4096, PAGES + (i + 1) * 4096);
const bits = (f: Uint8Array) => (f[0x7f] as number) | ((f[0x80] as number) << 8);

describe("mrc save --round", () => {
  for (const channels of [[], ["--multifd-channels", "3"]]) {
    it(`leaves old bytes under a page that turned zero (${channels.length ? "3 channels" : "no multifd"})`, async () => {
      const out = join(dir.path, `live${channels.length}.mig`);
      const r = await mrc([
        "save",
        "--block",
        `r=${join(dir.path, "a.img")}`,
        "--round",
        `r=${join(dir.path, "b.img")}`,
        "-o",
        out,
        ...channels,
      ]);
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      const f = new Uint8Array(await readFile(out));
      // odd pages of A are set (0xaaaa); after the round bit 3 is clear and bit 4 set
      expect(bits(f)).toBe((0xaaaa & ~(1 << 3)) | (1 << 4));
      expect(page(f, 3).every((b) => b === 0x33)).toBe(true);
      expect(page(f, 4).every((b) => b === 0x44)).toBe(true);
      expect(page(f, 7).every((b) => b === 0x77)).toBe(true);
      // two PART records: the bulk pass and the round
      expect([...f.subarray(0x11000d, 0x11000e)]).toEqual([0x02]);
      expect([...f.subarray(0x11001f, 0x110020)]).toEqual([0x02]);
      expect([...f.subarray(0x110031, 0x110032)]).toEqual([0x08]);
      // extract gives the final RAM (B), whatever the page array holds under clear bits
      const x = await mrc(["extract", out, "-o", `${out}.d`]);
      expect(x.exitCode).toBe(0);
      expect(Buffer.compare(await readFile(join(`${out}.d`, "r.bin")), B)).toBe(0);
    });
  }
  it("rewrites the zeroed page with zeros and keeps its bit under zero-page-detection none", async () => {
    const out = join(dir.path, "none.mig");
    const r = await mrc([
      "save",
      "--block",
      `r=${join(dir.path, "a.img")}`,
      "--round",
      `r=${join(dir.path, "b.img")}`,
      "--zero-page-detection",
      "none",
      "-o",
      out,
    ]);
    expect(r.exitCode).toBe(0);
    const f = new Uint8Array(await readFile(out));
    expect(bits(f)).toBe(0xffff);
    expect(page(f, 3).every((b) => b === 0)).toBe(true);
  });
  it("refuses a round image of another size with a one-line error and exit 2", async () => {
    const short = join(dir.path, "short.img");
    await writeFile(short, new Uint8Array(4096));
    const r = await mrc([
      "save",
      "--block",
      `r=${join(dir.path, "a.img")}`,
      "--round",
      `r=${short}`,
      "-o",
      join(dir.path, "bad.mig"),
    ]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^mrc: ERR_BAD_ARGUMENT @0x1000: cannot decode round snapshot of block "r" at offset 0x1000/,
    );
  });
});
