// `mrc diff`: files written by the reference writer from deterministic images; every expectation is
// derived from how the two images or plans differ (spec sections 1.2, 2.3, 2.5, 3), never from our output.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DiffReport } from "../../src/diff/types.js";
import { listedCapabilities } from "../../src/impl/configuration.js";
import { vmdescJson } from "../../src/impl/machine.js";
import { fcParams } from "../helpers/fc.js";
import { PAGE, saveFile, saveWithPlan, specImage, tempDir } from "./fixtures.js";
import { run } from "./run.js";

const dir = await tempDir("diff");

async function diffJson(...args: string[]): Promise<{ code: number; report: DiffReport; stderr: string }> {
  const r = await run(["diff", ...args, "--json"]);
  return { code: r.code, report: JSON.parse(r.stdout) as DiffReport, stderr: r.stderr };
}

/** Inclusive runs of consecutive numbers in an increasing list. */
function runsOf(pages: readonly number[]): Array<{ first: number; last: number; count: number }> {
  const out: Array<{ first: number; last: number; count: number }> = [];
  for (const p of pages) {
    const last = out.at(-1);
    if (last && last.last === p - 1) {
      last.last = p;
      last.count++;
    } else out.push({ first: p, last: p, count: 1 });
  }
  return out;
}

const reference = await saveFile(dir, [{ idstr: "r", image: specImage() }]);

describe("mrc diff: equal meaning", () => {
  it("the same image saved at file: offsets 0, 0x1000 and 0x300000 is equal (exit 0)", async () => {
    const at1000 = await saveFile(dir, [{ idstr: "r", image: specImage() }], { offset: 0x1000n });
    // 0x300000: the header moves to 0x300063 and pages_offset to 0x400000 (spec 2.3 rounding)
    const at3m = await saveFile(dir, [{ idstr: "r", image: specImage() }], { offset: 0x300000n });
    const r1 = await run(["diff", reference, at1000, "--offset-b", "0x1000"]);
    expect(r1.stderr).toBe("");
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(/^result: equal$/m);
    const r2 = await diffJson(at1000, at3m, "--offset-a", "0x1000", "--offset-b", "3M");
    expect(r2.code).toBe(0);
    expect(r2.report.equal).toBe(true);
    expect(r2.report.a.offset).toBe("0x1000");
    expect(r2.report.b.offset).toBe("0x300000");
    expect(r2.report.blocks.compared).toEqual([
      {
        idstr: "r",
        equal: true,
        changes: [],
        pages: { compared: 2048, differing: 0, ranges: [], truncated: false },
        bitmap: { presentA: 1486, presentB: 1486, differing: 0, onlyA: [], onlyB: [], truncated: false },
      },
    ]);
    expect(r2.report.notes).toEqual(["streams start at different offsets: a 0x1000, b 0x300000"]);
  });

  it("old data under clear bits (a live save's later round found the pages zero) reads as zeros: equal", async () => {
    const image = specImage();
    const isZero = (p: number) => image.subarray(p * PAGE, (p + 1) * PAGE).every((b) => b === 0);
    // three data pages, two of them adjacent (one run of the bitmap split in the middle)
    const data = Array.from({ length: 2048 }, (_, p) => p).filter((p) => !isZero(p));
    const pages = [data[0], data[1], data[40]] as number[];
    const zero = new Uint8Array(PAGE);
    const live = await saveWithPlan(dir, [{ idstr: "r", image }], (plan) => {
      plan.rounds = [pages.map((page) => ({ block: "r", page, data: zero }))];
    });
    const zeroed = image.slice();
    for (const p of pages) zeroed.fill(0, p * PAGE, (p + 1) * PAGE);
    const plain = await saveFile(dir, [{ idstr: "r", image: zeroed }]);
    // the premise: the live file still holds the old bytes of those pages in its page array
    const bytes = await readFile(live);
    const pagesOffset = 0x100000; // the first block's page array (spec 2.3), at offset 0
    const at = pagesOffset + (pages[0] as number) * PAGE;
    expect(
      Buffer.compare(
        bytes.subarray(at, at + PAGE),
        Buffer.from(image.subarray(at - pagesOffset, at - pagesOffset + PAGE)),
      ),
    ).toBe(0);
    const r = await diffJson(live, plain);
    expect(r.code).toBe(0);
    expect(r.report.equal).toBe(true);
    expect(r.report.blocks.compared[0]?.pages).toEqual({
      compared: 2048,
      differing: 0,
      ranges: [],
      truncated: false,
    });
  });

  it("multifd channel count does not matter; the number of empty SECTION_PARTs is only noted", async () => {
    const mf = await saveFile(dir, [{ idstr: "r", image: specImage() }], {
      multifdChannels: 4,
      partSections: 3,
    });
    const r = await diffJson(reference, mf);
    expect(r.code).toBe(0);
    expect(r.report.equal).toBe(true);
    expect(r.report.notes).toEqual([
      "empty RAM SECTION_PART records: a has 1, b has 3 (timing, not compared)",
    ]);
  });
});

describe("mrc diff: pages", () => {
  it("one changed byte is reported as exactly that page with the first differing byte", async () => {
    const img = specImage();
    // page 1234 ≡ 2 (mod 4): only its last byte is 0xaa; byte 0x10 is 0 and becomes 0x5a
    img[1234 * PAGE + 0x10] = 0x5a;
    const b = await saveFile(dir, [{ idstr: "r", image: img }]);
    const r = await diffJson(reference, b);
    expect(r.code).toBe(1);
    expect(r.report.equal).toBe(false);
    const blk = r.report.blocks.compared[0];
    expect(blk?.pages).toEqual({
      compared: 2048,
      differing: 1,
      ranges: [
        {
          first: 1234,
          last: 1234,
          count: 1,
          firstDifference: { page: 1234, offset: "0x4d2010", a: "0x0", b: "0x5a" },
        },
      ],
      truncated: false,
    });
    expect(blk?.bitmap.differing).toBe(0);
    // everything else is the same
    expect(r.report.configuration.equal).toBe(true);
    expect(r.report.devices.equal).toBe(true);
    expect(r.report.vmdesc.equal).toBe(true);
    expect(r.report.commands.equal).toBe(true);
    const text = await run(["diff", reference, b]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(
      "page 1234 (1 page): first difference at byte 0x4d2010 (page 1234): a 0x0, b 0x5a",
    );
    expect(text.stdout).toMatch(/^result: differ$/m);
  });

  it("adjacent pages form one range; a zero page made non-zero also changes the bitmap", async () => {
    const img = specImage();
    img[10 * PAGE + 5] = 0xff; // page 10 ≡ 2: byte 5 is 0 → 0xff
    img[11 * PAGE] = 10; // page 11 ≡ 3: first byte = 11 (LE page number) → 10
    img[13 * PAGE + 4095] = 0x33; // page 13 ≡ 1: all 0x07 → last byte 0x33
    img[1050 * PAGE + 100] = 0x01; // page 1050 lies in the zero run 1000–1099
    const b = await saveFile(dir, [{ idstr: "r", image: img }]);
    const r = await diffJson(reference, b);
    expect(r.code).toBe(1);
    const blk = r.report.blocks.compared[0];
    expect(blk?.pages.ranges).toEqual([
      { first: 10, last: 11, count: 2, firstDifference: { page: 10, offset: "0xa005", a: "0x0", b: "0xff" } },
      { first: 13, last: 13, count: 1, firstDifference: { page: 13, offset: "0xdfff", a: "0x7", b: "0x33" } },
      {
        first: 1050,
        last: 1050,
        count: 1,
        firstDifference: { page: 1050, offset: "0x41a064", a: "0x0", b: "0x1" },
      },
    ]);
    expect(blk?.pages.differing).toBe(4);
    expect(blk?.bitmap).toEqual({
      presentA: 1486,
      presentB: 1487,
      differing: 1,
      onlyA: [],
      onlyB: [{ first: 1050, last: 1050, count: 1 }],
      truncated: false,
    });
  });

  it("zero-page-detection none: same contents, every zero page's bit differs (spec 2.6)", async () => {
    const none = await saveFile(dir, [{ idstr: "r", image: specImage() }], { zeroPageDetection: "none" });
    const r = await diffJson(none, reference);
    expect(r.code).toBe(1);
    const blk = r.report.blocks.compared[0];
    expect(blk?.pages.differing).toBe(0);
    // the zero pages of the spec 8 pattern: ≡0 mod 4 outside 1500–1599, and all of 1000–1099 — 562 pages
    const zero: number[] = [];
    for (let p = 0; p < 2048; p++) {
      if ((p >= 1000 && p < 1100) || (p % 4 === 0 && !(p >= 1500 && p < 1600))) zero.push(p);
    }
    expect(zero.length).toBe(562);
    expect(blk?.bitmap.presentA).toBe(2048);
    expect(blk?.bitmap.presentB).toBe(1486);
    expect(blk?.bitmap.differing).toBe(562);
    expect(blk?.bitmap.onlyB).toEqual([]);
    const all = await diffJson(none, reference, "--max-ranges", "1000");
    expect(all.report.blocks.compared[0]?.bitmap.onlyA).toEqual(runsOf(zero));
    expect(blk?.bitmap.truncated).toBe(true);
    expect(blk?.bitmap.onlyA).toEqual(runsOf(zero).slice(0, 100));
  });

  it("a longer block: used_length differs, the extra pages are listed with how many are non-zero", async () => {
    const img = new Uint8Array(2052 * PAGE);
    img.set(specImage());
    img[2049 * PAGE] = 1;
    img[2051 * PAGE + 7] = 2;
    const b = await saveFile(dir, [{ idstr: "r", image: img }]);
    const r = await diffJson(reference, b);
    expect(r.code).toBe(1);
    const blk = r.report.blocks.compared[0];
    expect(blk?.changes).toEqual([{ field: "usedLength", a: "0x800000", b: "0x804000" }]);
    expect(blk?.pages.differing).toBe(0);
    expect(blk?.pages.onlyB).toEqual({ first: 2048, last: 2051, count: 4, nonZero: 2 });
  });

  it("property: the reported ranges are exactly the changed pages, with their first changed byte", async () => {
    const pages = 24;
    const base = specImage(pages);
    const a = await saveFile(dir, [{ idstr: "p", image: base }]);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.record({
            page: fc.nat(pages - 1),
            byte: fc.nat(PAGE - 1),
            xor: fc.integer({ min: 1, max: 255 }),
          }),
          {
            selector: (c) => c.page,
            maxLength: 8,
          },
        ),
        async (changes) => {
          const img = base.slice();
          for (const c of changes)
            img[c.page * PAGE + c.byte] = (base[c.page * PAGE + c.byte] as number) ^ c.xor;
          const b = await saveFile(dir, [{ idstr: "p", image: img }]);
          const r = await diffJson(a, b);
          const sorted = [...changes].sort((x, y) => x.page - y.page);
          const expected = runsOf(sorted.map((c) => c.page)).map((range) => {
            const c = sorted.find((x) => x.page === range.first) as (typeof sorted)[number];
            const at = c.page * PAGE + c.byte;
            return {
              ...range,
              firstDifference: {
                page: c.page,
                offset: `0x${at.toString(16)}`,
                a: `0x${(base[at] as number).toString(16)}`,
                b: `0x${(img[at] as number).toString(16)}`,
              },
            };
          });
          expect(r.code).toBe(changes.length === 0 ? 0 : 1);
          expect(r.report.blocks.compared[0]?.pages.ranges).toEqual(expected);
        },
      ),
      fcParams(25),
    );
  });
});

describe("mrc diff: structure", () => {
  it("a different block list", async () => {
    const small = new Uint8Array(16 * PAGE).fill(0x11);
    const b = await saveFile(dir, [
      { idstr: "r", image: specImage() },
      { idstr: "s", image: small },
    ]);
    const r = await diffJson(reference, b);
    expect(r.code).toBe(1);
    expect(r.report.blocks).toMatchObject({
      equal: false,
      a: ["r"],
      b: ["r", "s"],
      onlyA: [],
      onlyB: ["s"],
      orderDiffers: false,
    });
    // r is first in both (RAM list sorted by size, spec 2.2) and means the same: only the list differs
    expect(r.report.blocks.compared.map((c) => [c.idstr, c.equal])).toEqual([["r", true]]);
    const text = await run(["diff", reference, b]);
    expect(text.stdout).toContain("  only in b: s\n");
  });

  it("a different capability list (x-ignore-shared): configuration, mr->addr and vmdesc differ", async () => {
    const b = await saveWithPlan(dir, [{ idstr: "r", image: specImage() }], (plan) => {
      plan.configuration = {
        ...plan.configuration,
        capabilities: listedCapabilities(new Set(["x-ignore-shared", "mapped-ram"])),
      };
      plan.vmdesc = vmdescJson(plan.configuration, plan.devices);
    });
    const r = await diffJson(reference, b);
    expect(r.code).toBe(1);
    expect(r.report.configuration.changes).toEqual([
      { field: "capabilities", a: ["mapped-ram"], b: ["x-ignore-shared", "mapped-ram"] },
    ]);
    // x-ignore-shared adds be64 mr->addr to every block record (spec 2.2); the writer writes 0
    expect(r.report.blocks.compared[0]?.changes).toEqual([{ field: "mrAddr", a: null, b: "0x0" }]);
    expect(r.report.blocks.compared[0]?.pages.differing).toBe(0);
    // spec 3: with two capabilities the vmdesc describes the first one (1 + len("x-ignore-shared") = 16)
    // and adds array_len 2
    expect(r.report.vmdesc.equal).toBe(false);
    expect(r.report.vmdesc.changes).toEqual([
      { path: "configuration.subsections[0].fields[1].size", a: "11", b: "16" },
      { path: "configuration.subsections[0].fields[1].array_len", a: null, b: "2" },
    ]);
  });

  it("a different device payload: globalstate runstate prelaunch vs paused", async () => {
    const b = await saveFile(dir, [{ idstr: "r", image: specImage() }], { runstate: "paused" });
    const r = await diffJson(reference, b);
    expect(r.code).toBe(1);
    // globalstate payload starts with be32 strlen(runstate)+1: 00 00 00 0a vs 00 00 00 07 (spec 3)
    expect(r.report.devices).toEqual({
      equal: false,
      a: [
        { idstr: "timer", instanceId: 0 },
        { idstr: "globalstate", instanceId: 0 },
      ],
      b: [
        { idstr: "timer", instanceId: 0 },
        { idstr: "globalstate", instanceId: 0 },
      ],
      onlyA: [],
      onlyB: [],
      orderDiffers: false,
      changed: [
        {
          idstr: "globalstate",
          instanceId: 0,
          changes: [],
          firstDifference: { offset: "0x3", a: "0xa", b: "0x7" },
          fields: [
            { field: "size", a: 10, b: 7 },
            { field: "runstate", a: "prelaunch", b: "paused" },
          ],
        },
      ],
    });
    expect(r.report.blocks.equal).toBe(true);
    expect(r.report.vmdesc.equal).toBe(true);
  });

  it("a missing vmdesc (suppress-vmdesc) and a missing SWITCHOVER_START", async () => {
    const b = await saveWithPlan(dir, [{ idstr: "r", image: specImage() }], (plan) => {
      plan.vmdesc = null;
      plan.switchoverStart = false;
    });
    const r = await diffJson(reference, b);
    expect(r.code).toBe(1);
    expect(r.report.vmdesc).toEqual({
      equal: false,
      a: { length: 1024 },
      b: null,
      changes: [],
      truncated: false,
    });
    expect(r.report.commands).toEqual({ equal: false, a: [{ command: "0xb", data: "" }], b: [] });
    expect(r.report.blocks.equal).toBe(true);
  });
});

describe("mrc diff: trouble is exit 2, on one line", () => {
  it("a file that is not a migration stream", async () => {
    const junk = join(dir, "junk.bin");
    await writeFile(junk, new Uint8Array(64).fill(0x41));
    const r = await run(["diff", reference, junk]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^mrc: ERR_BAD_MAGIC @0x0: cannot decode migration stream at offset 0x0: magic/);
    expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("a missing file", async () => {
    const r = await run(["diff", reference, join(dir, "nope.mig")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mrc: ENOENT: /);
    expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("the wrong offset for one side", async () => {
    const r = await run(["diff", reference, reference, "--offset-b", "0x1000"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("leaves both files untouched", async () => {
    const before = await readFile(reference);
    await run(["diff", reference, reference]);
    expect(Buffer.compare(await readFile(reference), before)).toBe(0);
  });
});
