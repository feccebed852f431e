// PageBitmap's counting and scanning (used to size an extract, to split it into chunks and to check
// that every set bit's page is in the file) against a bit-by-bit model, and the extract's check of
// set bits past the end of the file.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PageBitmap } from "../../src/impl/bitmap.js";
import { checkRunsInFile } from "../../src/impl/extract.js";
import type { ParsedRamBlock } from "../../src/impl/ram-load.js";
import type { RandomAccessSource } from "../../src/impl/source.js";

/** numPages, and the file's bitmap bytes (whole 64-bit words, bits past numPages included). */
const bitmaps = fc
  .integer({ min: 0, max: 600 })
  .chain((numPages) =>
    fc
      .uint8Array({ minLength: Math.ceil(numPages / 64) * 8, maxLength: Math.ceil(numPages / 64) * 8 })
      .map((bytes) => ({ numPages, bytes })),
  );
const bit = (bytes: Uint8Array, p: number) => (((bytes[p >> 3] as number) >> (p & 7)) & 1) === 1;

describe("PageBitmap", () => {
  it("count() is the number of set bits below numPages", () => {
    fc.assert(
      fc.property(bitmaps, ({ numPages, bytes }) => {
        let want = 0;
        for (let p = 0; p < numPages; p++) if (bit(bytes, p)) want++;
        expect(new PageBitmap(numPages, bytes).count()).toBe(want);
      }),
    );
  });

  it("nextSet(from) is the first set bit at or after from below numPages, else -1", () => {
    fc.assert(
      fc.property(bitmaps, fc.integer({ min: -3, max: 700 }), ({ numPages, bytes }, from) => {
        let want = -1;
        for (let p = Math.max(0, from); p < numPages; p++) {
          if (bit(bytes, p)) {
            want = p;
            break;
          }
        }
        expect(new PageBitmap(numPages, bytes).nextSet(from)).toBe(want);
      }),
    );
  });

  /** The runs of set bits in [from, to) below numPages, bit by bit: the model for the scans below. */
  function runsModel(bytes: Uint8Array, from: number, to: number): number[][] {
    const out: number[][] = [];
    for (let p = Math.max(0, from); p < to; p++) {
      if (!bit(bytes, p)) continue;
      const last = out.at(-1);
      if (last !== undefined && last[1] === p) last[1] = p + 1;
      else out.push([p, p + 1]);
    }
    return out;
  }

  /** numPages, bytes, and a range [from, to) within the first numPages (either end anywhere). */
  const ranged = bitmaps.chain(({ numPages, bytes }) =>
    fc
      .tuple(fc.integer({ min: 0, max: numPages }), fc.integer({ min: 0, max: numPages }))
      .map(([a, b]) => ({ numPages, bytes, from: Math.min(a, b), to: Math.max(a, b) })),
  );

  it("nextSet(from, to) and nextClear(from, to) stop at to", () => {
    fc.assert(
      fc.property(ranged, ({ numPages, bytes, from, to }) => {
        const bm = new PageBitmap(numPages, bytes);
        let set = -1;
        let clear = to;
        for (let p = to - 1; p >= from; p--) {
          if (bit(bytes, p)) set = p;
          else clear = p;
        }
        expect([bm.nextSet(from, to), bm.nextClear(from, to)]).toEqual([set, clear]);
      }),
    );
  });

  it("setRuns() and setRunsIn(from, to) give the model's runs (setRunsIn cut at from and to)", () => {
    fc.assert(
      fc.property(ranged, ({ numPages, bytes, from, to }) => {
        const bm = new PageBitmap(numPages, bytes);
        expect([...bm.setRuns()]).toEqual(runsModel(bytes, 0, numPages));
        const out = new Int32Array(numPages + 2).fill(-7);
        const n = bm.setRunsIn(from, to, out);
        const got = Array.from({ length: n }, (_, i) => [out[2 * i], out[2 * i + 1]]);
        expect(got).toEqual(runsModel(bytes, from, to));
        // nothing written past the runs
        expect(Array.from(out.subarray(2 * n)).every((v) => v === -7)).toBe(true);
      }),
    );
  });

  it("runs of whole 0xff and 0x00 bytes, cut inside a byte", () => {
    const bm = new PageBitmap(64, Uint8Array.of(0xff, 0xff, 0, 0, 0x0f, 0xf0, 0xff, 0x80));
    expect([...bm.setRuns()]).toEqual([
      [0, 16],
      [32, 36],
      [44, 56],
      [63, 64],
    ]);
    const out = new Int32Array(8);
    expect(bm.setRunsIn(3, 46, out)).toBe(3);
    expect(Array.from(out.subarray(0, 6))).toEqual([3, 16, 32, 36, 44, 46]);
    expect([bm.nextClear(0), bm.nextClear(40), bm.nextClear(63)]).toEqual([16, 40, 64]);
  });

  it("sparse bits far apart, and bits only past numPages", () => {
    const bm = new PageBitmap(1000);
    for (const p of [3, 517, 999]) bm.set(p);
    expect([bm.nextSet(0), bm.nextSet(4), bm.nextSet(518), bm.nextSet(1000)]).toEqual([3, 517, 999, -1]);
    expect(bm.count()).toBe(3);
    const past = new PageBitmap(60, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0xf0));
    expect([past.count(), past.nextSet(0)]).toEqual([0, -1]);
  });
});

describe("checkRunsInFile", () => {
  const PAGES_OFFSET = 0x100000n;
  const block: ParsedRamBlock = {
    idstr: "pc.ram",
    usedLength: 16n * 4096n,
    numPages: 16n,
    recordOffset: 0x40n,
    mappedRam: {
      headerOffset: 0x60n,
      header: { version: 1, pageSize: 4096n, bitmapOffset: 0x80000n, pagesOffset: PAGES_OFFSET },
      bitmapOffset: 0x80000n,
      bitmapSize: 8n,
      pagesOffset: PAGES_OFFSET,
      end: PAGES_OFFSET + 16n * 4096n,
    },
  };
  const source = (size: bigint) => ({ size }) as RandomAccessSource;
  const bitmapOf = (...pages: number[]) => {
    const bm = new PageBitmap(16);
    for (const p of pages) bm.set(p);
    return bm;
  };

  it("names the first set page that is not whole in the file, with its file offset", () => {
    // 5 whole pages and 100 bytes of page 5: pages 1 and 2 fit, page 6 is the first that does not
    const src = source(PAGES_OFFSET + 5n * 4096n + 100n);
    let caught: unknown;
    try {
      checkRunsInFile(src, block, bitmapOf(1, 2, 6, 7));
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({
      code: "ERR_TRUNCATED",
      offset: PAGES_OFFSET + 6n * 4096n,
      bytesRequested: 4096n,
      bytesAvailable: 0n,
      message:
        'cannot decode ramblock "pc.ram" at offset 0x106000: pages page 0x6000 has its bit set but lies past the end of the file (0x105064)',
    });
  });

  it("a page cut short by the end of the file", () => {
    const src = source(PAGES_OFFSET + 5n * 4096n + 100n);
    expect(() => checkRunsInFile(src, block, bitmapOf(0, 4, 5))).toThrow(
      expect.objectContaining({ offset: PAGES_OFFSET + 5n * 4096n, bytesAvailable: 100n }),
    );
  });

  it("a file that ends before the page array: the first set page", () => {
    expect(() => checkRunsInFile(source(0x1000n), block, bitmapOf(9, 12))).toThrow(
      expect.objectContaining({ offset: PAGES_OFFSET + 9n * 4096n, bytesAvailable: 0n }),
    );
  });

  it("accepts set pages that end exactly at the end of the file, and clear pages past it", () => {
    expect(() => checkRunsInFile(source(PAGES_OFFSET + 5n * 4096n), block, bitmapOf(0, 4))).not.toThrow();
    expect(() => checkRunsInFile(source(PAGES_OFFSET + 16n * 4096n), block, bitmapOf(15))).not.toThrow();
  });
});
