// The native I/O helper (native/mrc-io.c through src/impl/native-io.ts) on its own: savePages, a save's
// bulk pass over a RAM image (zero pages, bits, writes, an image that ends under its mapping: SIGBUS and
// EFAULT, caught), copyPages: a block's set-bit pages on several threads, with its result words, and
// readImagePages and mapImagePages: a send's window of a RAM image, its zero pages found in place, copied
// out or mapped for the send to write from.
// The copies and saves built on it are checked against the JS paths in extract-copy.test.ts and
// writer-channels.test.ts. Without the helper built these skip with one line, or fail under
// MRC_REQUIRE_NATIVE=1 (CI).
import { closeSync, openSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  COPY_OK,
  COPY_READ_FAILED,
  COPY_SOURCE_SHORT,
  COPY_WRITE_FAILED,
  errnoText,
  nativeIo,
} from "../../src/impl/native-io.js";
import { tempDir } from "../cli/fixtures.js";

const PAGE = 4096;
const io = nativeIo();
const required = process.env.MRC_REQUIRE_NATIVE === "1";
if (io === undefined && !required)
  console.warn("native helper cases skipped: dist/native/mrc-io.node is not built");
const dir = await tempDir("native-io");

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function helper() {
  if (io === undefined) throw new Error("MRC_REQUIRE_NATIVE=1 but dist/native/mrc-io.node is not built");
  return io;
}

describe.skipIf(io === undefined && !required)("native I/O helper", () => {
  /** Pages of a RAM image, `lead` bytes into its file: zero pages where `zero(p)`, the others named. */
  function imageWith(lead: number, pages: number, zero: (p: number) => boolean): Uint8Array {
    const b = new Uint8Array(lead + pages * PAGE).fill(0xee, 0, lead);
    for (let p = 0; p < pages; p++) {
      if (zero(p)) continue;
      const at = lead + p * PAGE;
      // pages with a single byte set (in the middle, the last) are not zero either
      if (p % 5 === 1) b[at + 2048] = 1;
      else if (p % 5 === 2) b[at + PAGE - 1] = 0x80;
      else for (let i = 0; i < PAGE; i++) b[at + i] = (p * 31 + i) & 0xff || 1;
    }
    return b;
  }

  interface SaveRun {
    status: number;
    result: number[];
    control: number[];
    bitmap: number[];
    out: Buffer;
  }

  /**
   * savePages of the pages of `ranges` (chunks of `chunkPages`) from an image file of `bytes` (page 0 at
   * `lead`) into an output of 0xee filler (pages at `pagesOffset`), starting from `bitmap`.
   */
  async function savePages(
    name: string,
    bytes: Uint8Array,
    o: {
      lead: number;
      pages: number;
      ranges: Array<[number, number]>;
      chunkPages: number;
      threads: number;
      detect: boolean;
      bitmap?: Uint8Array;
      pagesOffset?: number;
      dstPath?: string;
      imagePath?: string;
    },
  ): Promise<SaveRun> {
    const n = helper();
    const image = o.imagePath ?? join(dir, `${name}.img`);
    if (o.imagePath === undefined) writeFileSync(image, bytes);
    const pagesOffset = o.pagesOffset ?? 2 * PAGE + 56;
    const dstPath = o.dstPath ?? join(dir, `${name}.mig`);
    if (o.dstPath === undefined)
      writeFileSync(dstPath, new Uint8Array(pagesOffset + o.pages * PAGE).fill(0xee));
    const chunks: number[] = [];
    for (const [first, end] of o.ranges) {
      for (let p = first; p < end; p += o.chunkPages) chunks.push(p, Math.min(o.chunkPages, end - p));
    }
    const bitmap = o.bitmap ?? new Uint8Array(new SharedArrayBuffer(Math.ceil(o.pages / 8)));
    const control = new Int32Array(2);
    const result = new Float64Array(4).fill(-7);
    const i = openSync(image, "r");
    const d = openSync(dstPath, "r+");
    try {
      const status = await new Promise<number>((done) =>
        n.savePages(
          i,
          o.lead,
          d,
          pagesOffset,
          PAGE,
          o.detect ? 1 : 0,
          bitmap,
          Float64Array.from(chunks),
          o.threads,
          control,
          result,
          done,
        ),
      );
      const out = o.dstPath === undefined ? readFileSync(dstPath) : Buffer.alloc(0);
      return {
        status,
        result: Array.from(result),
        control: Array.from(control),
        bitmap: Array.from(bitmap),
        out,
      };
    } finally {
      closeSync(i);
      closeSync(d);
    }
  }

  /** The bitmap bytes with exactly `pages` set, of `numPages` pages. */
  function bitsOf(pages: number[], numPages: number): number[] {
    const b = new Array<number>(Math.ceil(numPages / 8)).fill(0);
    for (const p of pages) b[p >> 3] = (b[p >> 3] as number) | (1 << (p & 7));
    return b;
  }

  const zeroAt = (p: number) => p % 3 === 0 || (p >= 40 && p < 48);

  // Chunks of 16 pages or more are mapped, shorter ones read with pread (SAVE_MAP_MIN_PAGES): chunks of 8
  // pages take the one path; of 16, ranges [0, 20) and [24, 64) give 0-15, 24-39 and 40-55 mapped, 16-19
  // and 56-63 read.
  const SAVE_CASES = [1, 2, 3, 8].flatMap((threads) => [8, 16].map((chunkPages) => [threads, chunkPages]));
  it.each(SAVE_CASES)(
    "savePages on %i thread(s), chunks of %i pages: bits set for exactly the non-zero pages of the ranges, only they written, at pages_offset + page × 4096",
    async (threads, chunkPages) => {
      const lead = 0x5123; // not on a host page: the mapping starts before page 0
      const bytes = imageWith(lead, 64, zeroAt);
      // pages 20-23 are in no range (a hole): their bits and output are left as they were
      const bitmap = new Uint8Array(new SharedArrayBuffer(8)).fill(0xff);
      const ranges: Array<[number, number]> = [
        [0, 20],
        [24, 64],
      ];
      const r = await savePages(`save${threads}-${chunkPages}`, bytes, {
        lead,
        pages: 64,
        ranges,
        chunkPages,
        threads,
        detect: true,
        bitmap,
      });
      expect(r.status).toBe(COPY_OK);
      expect(r.result).toEqual([COPY_OK, -1, 0, 0]);
      // chunks of 8: 0-7, 8-15, 16-19, then five from 24; of 16: 0-15, 16-19, 24-39, 40-55, 56-63. Each
      // is handed out once, plus a look past the end per thread
      expect(r.control).toEqual([(chunkPages === 8 ? 8 : 5) + threads, 60]);
      const inRanges = (p: number) => p < 20 || p >= 24;
      const written = Array.from({ length: 64 }, (_, p) => p).filter((p) => inRanges(p) && !zeroAt(p));
      expect(r.bitmap).toEqual(bitsOf([...written, 20, 21, 22, 23], 64));
      const pagesOffset = 2 * PAGE + 56;
      expect(r.out.subarray(0, pagesOffset).every((b) => b === 0xee)).toBe(true);
      for (let p = 0; p < 64; p++) {
        const got = r.out.subarray(pagesOffset + p * PAGE, pagesOffset + (p + 1) * PAGE);
        const want = written.includes(p)
          ? bytes.subarray(lead + p * PAGE, lead + (p + 1) * PAGE)
          : new Uint8Array(PAGE).fill(0xee);
        expect(Buffer.compare(got, want), `page ${p}`).toBe(0);
      }
    },
  );

  it("savePages without zero-page detection writes every page of its ranges, zero pages too, and sets their bits", async () => {
    const bytes = imageWith(0, 32, zeroAt);
    // chunks 4-19 (mapped) and 20-29 (read)
    const r = await savePages("nodetect", bytes, {
      lead: 0,
      pages: 32,
      ranges: [[4, 30]],
      chunkPages: 16,
      threads: 2,
      detect: false,
    });
    expect([r.status, r.control]).toEqual([COPY_OK, [2 + 2, 26]]);
    expect(r.bitmap).toEqual(
      bitsOf(
        Array.from({ length: 26 }, (_, i) => 4 + i),
        32,
      ),
    );
    const pagesOffset = 2 * PAGE + 56;
    expect(
      Buffer.compare(
        r.out.subarray(pagesOffset + 4 * PAGE, pagesOffset + 30 * PAGE),
        bytes.subarray(4 * PAGE, 30 * PAGE),
      ),
    ).toBe(0);
    expect(r.out.subarray(pagesOffset, pagesOffset + 4 * PAGE).every((b) => b === 0xee)).toBe(true);
    expect(r.out.subarray(pagesOffset + 30 * PAGE).every((b) => b === 0xee)).toBe(true);
  });

  // An image file shorter than its chunks. A mapped chunk (16 pages here): the pages past its end raise
  // SIGBUS in the zero-page scan (detection) or fail the pwrite from the mapping with EFAULT (none);
  // either way the chunk is read again with pread, which says where the image ends, measured from page
  // 0. A chunk read with pread (8 pages) says so at once.
  it.each(
    [true, false].flatMap((detect) => [1, 8].flatMap((threads) => [8, 16].map((n) => [detect, threads, n]))),
  )(
    "savePages (detection %s, %i threads, chunks of %i pages) says where an image that ends early ends: the first short chunk in file order",
    async (detect, threads, chunkPages) => {
      const lead = 0x3000;
      const full = imageWith(lead, 64, zeroAt);
      // inside page 37: chunk 4 of 8 pages (32-39), or chunk 2 of 16 (32-47); later chunks have no byte at all
      const end = 37 * PAGE + 100;
      const r = await savePages(`short-${detect}-${threads}-${chunkPages}`, full.subarray(0, lead + end), {
        lead,
        pages: 64,
        ranges: [[0, 64]],
        chunkPages: chunkPages as number,
        threads: threads as number,
        detect: detect as boolean,
      });
      expect(r.status).toBe(COPY_SOURCE_SHORT);
      expect(r.result).toEqual([COPY_SOURCE_SHORT, 32 / (chunkPages as number), 0, end]);
      // chunks before the failed one are all written
      const pagesOffset = 2 * PAGE + 56;
      for (let p = 0; p < 32; p++) {
        if (detect && zeroAt(p)) continue;
        const got = r.out.subarray(pagesOffset + p * PAGE, pagesOffset + (p + 1) * PAGE);
        expect(Buffer.compare(got, full.subarray(lead + p * PAGE, lead + (p + 1) * PAGE)), `page ${p}`).toBe(
          0,
        );
      }
    },
  );

  it("savePages on 8 threads hands the write lock around 256 mapped chunks and writes every page", async () => {
    const pages = 256 * 16;
    const bytes = imageWith(0, pages, (p) => p % 7 === 3);
    for (let round = 0; round < 3; round++) {
      const r = await savePages(`many${round}`, bytes, {
        lead: 0,
        pages,
        ranges: [[0, pages]],
        chunkPages: 16,
        threads: 8,
        detect: true,
        pagesOffset: 0,
      });
      expect([r.status, r.control]).toEqual([COPY_OK, [256 + 8, pages]]);
      const want = Buffer.from(bytes);
      for (let p = 3; p < pages; p += 7) want.fill(0xee, p * PAGE, (p + 1) * PAGE);
      expect(Buffer.compare(r.out, want)).toBe(0);
    }
  });

  it("savePages names a write failure at the output offset (ENOSPC on /dev/full)", async () => {
    const r = await savePages(
      "full",
      imageWith(0, 16, (p) => p < 3),
      {
        lead: 0,
        pages: 16,
        ranges: [[0, 16]],
        chunkPages: 8,
        threads: 1,
        detect: true,
        pagesOffset: 0x10000,
        dstPath: "/dev/full",
      },
    );
    // page 3 is the first written
    expect([r.status, r.result]).toEqual([COPY_WRITE_FAILED, [COPY_WRITE_FAILED, 0, 28, 0x10000 + 3 * PAGE]]);
    expect(errnoText(28, "write").code).toBe("ENOSPC");
  });

  it("savePages names a read failure at the image offset from page 0 (a directory: EISDIR)", async () => {
    const r = await savePages("dir", new Uint8Array(0), {
      lead: 0,
      pages: 16,
      ranges: [[8, 16]],
      chunkPages: 8,
      threads: 2,
      detect: true,
      imagePath: dir,
    });
    expect([r.status, r.result]).toEqual([COPY_READ_FAILED, [COPY_READ_FAILED, 0, 21, 8 * PAGE]]);
    expect(r.bitmap).toEqual([0, 0]);
  });

  it("savePages refuses chunks outside the bitmap, odd chunk lists and a missing callback", () => {
    const n = helper();
    const args = (chunks: number[], bitmapBytes = 1) =>
      [
        0,
        0,
        1,
        0,
        PAGE,
        1,
        new Uint8Array(bitmapBytes),
        Float64Array.from(chunks),
        1,
        new Int32Array(2),
        new Float64Array(4),
      ] as const;
    const chunkError = "savePages: a chunk must be 1 to 2^20 whole pages within the bitmap";
    expect(() => n.savePages(...args([4, 5]), () => {})).toThrow(chunkError);
    expect(() => n.savePages(...args([0, 0]), () => {})).toThrow(chunkError);
    expect(() => n.savePages(...args([0.5, 2]), () => {})).toThrow(chunkError);
    expect(() => n.savePages(...args([0, 8, 2]), () => {})).toThrow(
      "savePages: chunks must be a Float64Array of [first page, pages] pairs",
    );
    const noCallback = n.savePages as unknown as (...a: unknown[]) => void;
    expect(() => noCallback(...args([0, 8]), "done")).toThrow("savePages: done must be a function");
  });

  /** copyPages of `bitmap` from a source file of `bytes` into an empty block file; its status and words. */
  async function copyPages(
    name: string,
    bytes: Uint8Array,
    bitmap: Uint8Array,
    numPages: number,
    pagesOffset: number,
    threads: number,
    dstPath = join(dir, `${name}.dst`),
  ): Promise<{ status: number; result: number[]; control: number[]; out: Buffer }> {
    const n = helper();
    const src = join(dir, `${name}.src`);
    writeFileSync(src, bytes);
    if (dstPath.startsWith(dir)) writeFileSync(dstPath, new Uint8Array(0));
    const s = openSync(src, "r");
    const d = openSync(dstPath, "w");
    const control = new Int32Array(new SharedArrayBuffer(8));
    const result = new Float64Array(5).fill(-7);
    try {
      const status = await new Promise<number>((done) =>
        n.copyPages(s, d, bitmap, numPages, pagesOffset, PAGE, 8, threads, control, result, done),
      );
      const out = dstPath.startsWith(dir) ? readFileSync(dstPath) : Buffer.alloc(0);
      return { status, result: Array.from(result), control: Array.from(control), out };
    } finally {
      closeSync(s);
      closeSync(d);
    }
  }

  /** Page p of a 64-page source at `lead` bytes in: each byte names its page and place. */
  function pagesAfter(lead: number, pages: number): Uint8Array {
    const b = new Uint8Array(lead + pages * PAGE);
    for (let i = lead; i < b.length; i++) b[i] = (((i - lead) >>> 12) * 31 + i) & 0xff;
    return b;
  }

  it.each([1, 2, 3, 8])(
    "copyPages on %i thread(s) copies exactly the set-bit pages to their places and counts them",
    async (threads) => {
      const lead = 3 * PAGE + 100; // pages_offset need not be page-aligned in the migration file
      const bytes = pagesAfter(lead, 64);
      // 64 pages in 8 chunks of 8: runs inside chunks, across a chunk boundary (7-9), a full chunk (16-23),
      // the first and the last page; chunk 4 (32-39) has none
      const set = [0, 2, 3, 7, 8, 9, 16, 17, 18, 19, 20, 21, 22, 23, 30, 41, 47, 48, 62, 63];
      const bitmap = new Uint8Array(8);
      for (const p of set) bitmap[p >> 3] = (bitmap[p >> 3] as number) | (1 << (p & 7));
      const r = await copyPages(`pages${threads}`, bytes, bitmap, 64, lead, threads);
      expect(r.status).toBe(COPY_OK);
      expect(r.result).toEqual([COPY_OK, 0, 0, 0, 0]);
      // every chunk handed out once, plus one look past the end per thread
      expect(r.control).toEqual([8 + threads, set.length]);
      expect(r.out.length).toBe(64 * PAGE);
      for (let p = 0; p < 64; p++) {
        const want = set.includes(p)
          ? bytes.subarray(lead + p * PAGE, lead + (p + 1) * PAGE)
          : new Uint8Array(PAGE);
        expect(Buffer.compare(r.out.subarray(p * PAGE, (p + 1) * PAGE), want), `page ${p}`).toBe(0);
      }
    },
  );

  it("copyPages on 8 threads hands the write lock around 256 chunks of runs and copies every page", async () => {
    // 2048 pages, every other one set plus a run of 40 and the last page: the threads take turns writing, and waiters that
    // spin past their budget sleep (two CPUs, eight threads), so a lost wake-up would hang here
    const pages = 2048;
    const bytes = pagesAfter(0, pages);
    const bitmap = new Uint8Array(pages / 8).fill(0b0101_0101);
    for (const p of [...Array(40).keys()].map((i) => 1000 + i).concat(pages - 1))
      bitmap[p >> 3] = (bitmap[p >> 3] as number) | (1 << (p & 7));
    const set = (p: number) => (((bitmap[p >> 3] as number) >> (p & 7)) & 1) === 1;
    let count = 0;
    for (let p = 0; p < pages; p++) if (set(p)) count++;
    for (let round = 0; round < 5; round++) {
      const r = await copyPages(`lock${round}`, bytes, bitmap, pages, 0, 8);
      expect(r.result).toEqual([COPY_OK, 0, 0, 0, 0]);
      expect(r.control).toEqual([pages / 8 + 8, count]);
      expect(r.out.length).toBe(pages * PAGE);
      for (let p = 0; p < pages; p++) {
        const want = set(p) ? bytes.subarray(p * PAGE, (p + 1) * PAGE) : new Uint8Array(PAGE);
        const got = r.out.subarray(p * PAGE, (p + 1) * PAGE);
        if (Buffer.compare(got, want) !== 0) expect.fail(`round ${round}: page ${p} differs`);
      }
    }
  });

  it("copyPages with a bitmap of no set bit writes nothing", async () => {
    const r = await copyPages("none", pagesAfter(0, 16), new Uint8Array(2), 16, 0, 2);
    expect(r.status).toBe(COPY_OK);
    expect(r.control).toEqual([2 + 2, 0]);
    expect(r.out.length).toBe(0);
  });

  it("copyPages says where a short source ended: the run's first page, the bytes it had, the run's bytes", async () => {
    // 12 pages in the file, pages 10-13 set (one run in chunk 1): 2 of its 4 pages are there
    const bitmap = new Uint8Array([0, 0b0011_1100]);
    const r = await copyPages("short", pagesAfter(0, 12), bitmap, 16, 0, 1);
    expect(r.status).toBe(COPY_SOURCE_SHORT);
    expect(r.result).toEqual([COPY_SOURCE_SHORT, 10, 0, 2 * PAGE, 4 * PAGE]);
    // the pages before the end were written, and the failure stopped the chunk hand-out
    expect(r.out.length).toBe(12 * PAGE);
    expect(Buffer.compare(r.out.subarray(10 * PAGE), pagesAfter(0, 12).subarray(10 * PAGE))).toBe(0);
    expect(r.control).toEqual([2, 0]);
  });

  it("copyPages writes a chunk's runs before its short one, and counts only whole runs", async () => {
    // chunk 1 (pages 8-15): page 8, then pages 10-13, of which the 12-page file has 10 and 11
    const bitmap = new Uint8Array([0, 0b0011_1101]);
    const source = pagesAfter(0, 12);
    const r = await copyPages("short2", source, bitmap, 16, 0, 1);
    expect(r.result).toEqual([COPY_SOURCE_SHORT, 10, 0, 2 * PAGE, 4 * PAGE]);
    expect(r.control).toEqual([2, 1]);
    expect(r.out.length).toBe(12 * PAGE);
    expect(Buffer.compare(r.out.subarray(8 * PAGE, 9 * PAGE), source.subarray(8 * PAGE, 9 * PAGE))).toBe(0);
    expect(r.out.subarray(9 * PAGE, 10 * PAGE).every((b) => b === 0)).toBe(true);
    expect(Buffer.compare(r.out.subarray(10 * PAGE), source.subarray(10 * PAGE))).toBe(0);
  });

  it("copyPages names the first failure in file order: a write before a later short read", async () => {
    // the same chunk into /dev/full: page 8's write fails before the short run after it
    const bitmap = new Uint8Array([0, 0b0011_1101]);
    const r = await copyPages("full2", pagesAfter(0, 12), bitmap, 16, 0, 1, "/dev/full");
    expect(r.result).toEqual([COPY_WRITE_FAILED, 8, 28, 8 * PAGE, PAGE]);
    expect(r.control).toEqual([2, 0]);
  });

  it("copyPages names a write failure at the output offset (ENOSPC on /dev/full)", async () => {
    const bitmap = new Uint8Array([0b0110_0000]); // pages 5 and 6: one run
    const r = await copyPages("full", pagesAfter(0, 8), bitmap, 8, 0, 2, "/dev/full");
    expect(r.status).toBe(COPY_WRITE_FAILED);
    expect(r.result).toEqual([COPY_WRITE_FAILED, 5, 28, 5 * PAGE, 2 * PAGE]);
  });

  it("copyPages names a read failure at the source offset (EISDIR)", async () => {
    const n = helper();
    const folder = openSync(dir, "r");
    const d = openSync(join(dir, "eisdir.dst"), "w");
    const control = new Int32Array(2);
    const result = new Float64Array(5);
    try {
      const status = await new Promise<number>((done) =>
        n.copyPages(folder, d, new Uint8Array([0, 4]), 16, 100, PAGE, 8, 2, control, result, done),
      );
      expect(status).toBe(COPY_READ_FAILED);
      expect(Array.from(result)).toEqual([COPY_READ_FAILED, 10, 21, 100 + 10 * PAGE, PAGE]);
    } finally {
      closeSync(folder);
      closeSync(d);
    }
  });

  /** readImagePages of `image` (written to a file) from `offset`: `pages` pages into a buffer of 0xab. */
  function readImagePages(name: string, image: Uint8Array, offset: number, pages: number, detect: boolean) {
    const n = helper();
    const path = join(dir, `${name}.img`);
    writeFileSync(path, image);
    const fd = openSync(path, "r");
    const buf = new Uint8Array(pages * PAGE).fill(0xab);
    const flags = new Uint8Array(pages).fill(7);
    const result = new Float64Array(2).fill(-1);
    try {
      const status = n.readImagePages(fd, offset, PAGE, detect ? 1 : 0, buf, flags, result);
      return { status, result: Array.from(result), flags: Array.from(flags), buf };
    } finally {
      closeSync(fd);
    }
  }

  it("readImagePages reads a window with pread and flags its zero pages", () => {
    const lead = 100; // the window starts off a host page
    const image = imageWith(lead, 40, (p) => p % 3 === 0);
    const r = readImagePages("window", image, lead, 40, true);
    expect([r.status, r.result]).toEqual([COPY_OK, [0, 0]]);
    expect(r.flags).toEqual(Array.from({ length: 40 }, (_, p) => (p % 3 === 0 ? 1 : 0)));
    expect(Buffer.compare(r.buf, image.subarray(lead))).toBe(0);
  });

  it("readImagePages without detection copies every page, zero pages too, and flags none", () => {
    const image = imageWith(0, 24, (p) => p < 4 || p === 23);
    const r = readImagePages("all", image, 0, 24, false);
    expect([r.status, r.flags]).toEqual([COPY_OK, new Array(24).fill(0)]);
    expect(Buffer.compare(r.buf, image)).toBe(0);
  });

  it("readImagePages says where an image that ends inside the window ends", () => {
    // 20 pages and 100 bytes
    const image = imageWith(0, 21, () => false).subarray(0, 20 * PAGE + 100);
    const r = readImagePages("short", image, 0, 32, true);
    expect([r.status, r.result]).toEqual([COPY_SOURCE_SHORT, [0, 20 * PAGE + 100]]);
    // and from a window that starts past the end: nothing
    const past = readImagePages("past", image, 24 * PAGE, 16, true);
    expect([past.status, past.result]).toEqual([COPY_SOURCE_SHORT, [0, 0]]);
  });

  it("readImagePages names a read failure at the window's offset (a directory: EISDIR)", () => {
    const n = helper();
    const folder = openSync(dir, "r");
    const result = new Float64Array(2);
    try {
      const status = n.readImagePages(
        folder,
        8 * PAGE,
        PAGE,
        1,
        new Uint8Array(16 * PAGE),
        new Uint8Array(16),
        result,
      );
      expect([status, Array.from(result)]).toEqual([COPY_READ_FAILED, [21, 8 * PAGE]]);
    } finally {
      closeSync(folder);
    }
  });

  it("readImagePages refuses a buffer smaller than its pages, and a bad offset", () => {
    const n = helper();
    expect(() =>
      n.readImagePages(0, 0, PAGE, 1, new Uint8Array(2 * PAGE - 1), new Uint8Array(2), new Float64Array(2)),
    ).toThrow(
      "readImagePages: buf and flags must be Uint8Arrays, buf holding every page flags names, and result a Float64Array of 2",
    );
    expect(() =>
      n.readImagePages(0, -4096, PAGE, 1, new Uint8Array(PAGE), new Uint8Array(1), new Float64Array(2)),
    ).toThrow("readImagePages: the descriptor, offset and page size must be numbers in range");
  });

  /** mapImagePages of `image` (written to a file, truncated to `fileBytes` if given) from `offset`. */
  function mapImagePages(name: string, image: Uint8Array, offset: number, pages: number, detect: boolean) {
    const n = helper();
    const path = join(dir, `${name}.img`);
    writeFileSync(path, image);
    const fd = openSync(path, "r");
    const flags = new Uint8Array(pages).fill(7);
    const result = new Float64Array(1).fill(-1);
    const before = n.mappedImageBytes();
    try {
      const buffer = n.mapImagePages(fd, offset, PAGE, detect ? 1 : 0, flags, result);
      return {
        n,
        path,
        buffer,
        lead: result[0] as number,
        flags: Array.from(flags),
        mapped: n.mappedImageBytes() - before,
      };
    } finally {
      closeSync(fd); // the mapping outlives the descriptor
    }
  }

  it("mapImagePages maps a window in place, flags its zero pages, and unmapImagePages lets it go", () => {
    const lead = 100; // the window starts off a host page: the mapping starts before it
    const image = imageWith(lead, 40, (p) => p % 3 === 0);
    const m = mapImagePages("map", image, lead, 40, true);
    expect(m.buffer).toBeInstanceOf(ArrayBuffer);
    const buffer = m.buffer as ArrayBuffer;
    expect([m.lead, buffer.byteLength, m.mapped]).toEqual([lead, lead + 40 * PAGE, lead + 40 * PAGE]);
    expect(m.flags).toEqual(Array.from({ length: 40 }, (_, p) => (p % 3 === 0 ? 1 : 0)));
    // every page is there, zero pages too: it is the image itself
    expect(Buffer.compare(new Uint8Array(buffer, lead), image.subarray(lead))).toBe(0);
    const page = new Uint8Array(buffer, lead + 5 * PAGE, PAGE);
    const into = new Uint8Array(PAGE + 1).fill(0xab);
    expect(m.n.copyFromMapping(page, into)).toBe(true);
    expect(Buffer.compare(into.subarray(0, PAGE), image.subarray(lead + 5 * PAGE, lead + 6 * PAGE))).toBe(0);
    expect(into[PAGE]).toBe(0xab);
    const before = m.n.mappedImageBytes();
    expect(m.n.unmapImagePages(buffer)).toBe(true);
    expect(before - m.n.mappedImageBytes()).toBe(lead + 40 * PAGE);
    // detached: its views have no bytes left to read
    expect([buffer.byteLength, page.length]).toEqual([0, 0]);
    expect(m.n.unmapImagePages(buffer)).toBe(false);
    expect(m.n.unmapImagePages(new ArrayBuffer(8))).toBe(false);
  });

  it("mapImagePages without detection flags no page", () => {
    const image = imageWith(0, 24, (p) => p < 4 || p === 23);
    const m = mapImagePages("map-all", image, 0, 24, false);
    expect([m.lead, m.flags]).toEqual([0, new Array(24).fill(0)]);
    expect(m.n.unmapImagePages(m.buffer as ArrayBuffer)).toBe(true);
  });

  it("mapImagePages maps nothing where readImagePages must read: under 16 pages, past the end, not a file", () => {
    const image = imageWith(0, 21, () => false).subarray(0, 20 * PAGE + 100);
    const small = mapImagePages("map-small", image, 0, 15, true);
    const short = mapImagePages("map-short", image, 0, 21, true);
    expect([small.buffer, small.mapped, small.flags[0], short.buffer, short.mapped]).toEqual([
      null,
      0,
      7,
      null,
      0,
    ]);
    const n = helper();
    const folder = openSync(dir, "r");
    try {
      expect(n.mapImagePages(folder, 0, PAGE, 1, new Uint8Array(16), new Float64Array(1))).toBe(null);
    } finally {
      closeSync(folder);
    }
  });

  it("copyFromMapping reports a page gone under the mapping (the image shrank: SIGBUS, caught)", () => {
    const image = imageWith(0, 32, () => false);
    const m = mapImagePages("map-shrinks", image, 0, 32, true);
    const buffer = m.buffer as ArrayBuffer;
    try {
      truncateSync(m.path, 20 * PAGE + 100);
      const into = new Uint8Array(PAGE);
      expect(m.n.copyFromMapping(new Uint8Array(buffer, 19 * PAGE, PAGE), into)).toBe(true);
      expect(Buffer.compare(into, image.subarray(19 * PAGE, 20 * PAGE))).toBe(0);
      // the page holding the new end reads as the file has it now: its tail is zero
      expect(m.n.copyFromMapping(new Uint8Array(buffer, 20 * PAGE, PAGE), into)).toBe(true);
      expect(Buffer.compare(into.subarray(0, 100), image.subarray(20 * PAGE, 20 * PAGE + 100))).toBe(0);
      expect(into.subarray(100).every((x) => x === 0)).toBe(true);
      expect(m.n.copyFromMapping(new Uint8Array(buffer, 21 * PAGE, PAGE), into)).toBe(false);
    } finally {
      m.n.unmapImagePages(buffer);
    }
  });

  it("mapImagePages and copyFromMapping refuse bad arguments", () => {
    const n = helper();
    expect(() => n.mapImagePages(0, -4096, PAGE, 1, new Uint8Array(16), new Float64Array(1))).toThrow(
      "mapImagePages: the descriptor, offset and page size must be numbers in range",
    );
    expect(() => n.mapImagePages(0, 0, PAGE, 1, new Uint8Array(16), new Float64Array(0))).toThrow(
      "mapImagePages: flags must be a Uint8Array and result a Float64Array of 1",
    );
    expect(() => n.copyFromMapping(new Uint8Array(2), new Uint8Array(1))).toThrow(
      "copyFromMapping(from, to) takes two Uint8Arrays, `to` at least as long",
    );
    expect(() => n.unmapImagePages(new Uint8Array(8) as unknown as ArrayBuffer)).toThrow(
      "unmapImagePages(buffer) takes the ArrayBuffer mapImagePages returned",
    );
  });

  it("copyPages refuses a bitmap shorter than its pages and a missing callback", () => {
    const n = helper();
    const args = [0, 1, new Uint8Array(1), 9, 0, PAGE, 8, 1, new Int32Array(2), new Float64Array(5)] as const;
    expect(() => n.copyPages(...args, () => undefined)).toThrow(
      "copyPages: bitmap must be a Uint8Array of a bit per page",
    );
    const [a, b, , , ...rest] = args;
    expect(() =>
      n.copyPages(a, b, new Uint8Array(2), 9, ...rest, undefined as unknown as () => void),
    ).toThrow("copyPages: done must be a function");
  });
});

describe("errnoText", () => {
  it("words an errno as Node's fs errors do", () => {
    expect(errnoText(28, "write")).toEqual({
      code: "ENOSPC",
      message: "ENOSPC: no space left on device, write",
    });
    expect(errnoText(21, "read")).toEqual({
      code: "EISDIR",
      message: "EISDIR: illegal operation on a directory, read",
    });
  });
});
