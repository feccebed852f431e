// The native I/O helper (native/mrc-io.c through src/impl/native-io.ts) on its own: mapped image windows,
// zero-page flags, a file that shrinks under a mapping (SIGBUS, caught), and copyPages: a block's
// set-bit pages on several threads, with its result words.
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

/** Writes `bytes` to `name` in the scratch directory and runs `fn` on a read-only descriptor of it. */
function withFile(name: string, bytes: Uint8Array, fn: (fd: number, path: string) => void): void {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const fd = openSync(path, "r");
  try {
    fn(fd, path);
  } finally {
    closeSync(fd);
  }
}

/** Four pages: 0 and 1 zero, 2 with one byte set in its middle, 3 with only its last byte set. */
function fourPages(): Uint8Array {
  const b = new Uint8Array(4 * PAGE);
  b[2 * PAGE + 2048] = 1;
  b[4 * PAGE - 1] = 0x80;
  return b;
}

describe.skipIf(io === undefined && !required)("native I/O helper", () => {
  it("reports the host page size", () => {
    expect(helper().pageSize % PAGE).toBe(0);
  });

  it("zeroPages flags all-zero pages of a mapped window, from any page-multiple offset in it; copyOut copies", () => {
    const n = helper();
    withFile("four.img", fourPages(), (fd) => {
      const window = n.mapImage(fd, 0, 4 * PAGE);
      const flags = new Uint8Array(4).fill(9);
      expect(n.zeroPages(window, 0, 4, PAGE, flags)).toBe(2);
      expect(Array.from(flags)).toEqual([1, 1, 0, 0]);
      flags.fill(9);
      expect(n.zeroPages(window, PAGE, 2, PAGE, flags)).toBe(1);
      expect(Array.from(flags)).toEqual([1, 0, 9, 9]);
      // the mapping reads the file's bytes, and copyOut copies them where it is told
      expect(new Uint8Array(window)[2 * PAGE + 2048]).toBe(1);
      const dest = new Uint8Array(3 * PAGE);
      expect(n.copyOut(window, 2 * PAGE, 2 * PAGE, dest, PAGE)).toBe(0);
      expect(Buffer.compare(dest.subarray(PAGE), fourPages().subarray(2 * PAGE))).toBe(0);
      expect(dest.subarray(0, PAGE).every((b) => b === 0)).toBe(true);
      expect(() => n.copyOut(window, 3 * PAGE, 2 * PAGE, dest, 0)).toThrow(
        "copyOut: the bytes must lie in the buffer and in dest",
      );
      n.unmap(window);
      expect(window.byteLength).toBe(0);
      n.unmap(window); // a detached buffer is left alone
    });
  });

  it("a file that shrinks under its mapping: zeroPages and copyOut return -1 instead of dying of SIGBUS", () => {
    const n = helper();
    withFile("shrinks.img", new Uint8Array(4 * PAGE), (fd, path) => {
      const window = n.mapImage(fd, 0, 4 * PAGE);
      truncateSync(path, 2 * PAGE + 10); // pages 3 and 4 are gone; page 2 is partly there
      const flags = new Uint8Array(4);
      expect(n.zeroPages(window, 0, 4, PAGE, flags)).toBe(-1);
      // the thread goes on, and the pages still in the file read as before
      expect(n.zeroPages(window, 0, 3, PAGE, flags)).toBe(3);
      // copyOut likewise: what is still in the file copies, what is gone returns -1
      const dest = new Uint8Array(2 * PAGE).fill(7);
      expect(n.copyOut(window, PAGE, 2 * PAGE, dest, 0)).toBe(0);
      expect(dest.every((b) => b === 0)).toBe(true);
      expect(n.copyOut(window, 2 * PAGE, 2 * PAGE, dest, 0)).toBe(-1);
      n.unmap(window);
    });
  });

  it("mapImage refuses an offset that is not a multiple of the page size (EINVAL, errno 22)", () => {
    const n = helper();
    withFile("aligned.img", new Uint8Array(2 * PAGE), (fd) => {
      expect(() => n.mapImage(fd, 100, PAGE)).toThrow(expect.objectContaining({ code: "22" }));
    });
  });

  it("zeroPages refuses pages outside the buffer", () => {
    const n = helper();
    expect(() => n.zeroPages(new ArrayBuffer(PAGE), 0, 2, PAGE, new Uint8Array(2))).toThrow(
      "zeroPages: the pages must lie in the buffer and out must have a byte per page",
    );
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
