// The copy every loader channel runs (extract-copy.ts), on a hand-made page array: set-bit pages land at
// their place in the block file, clear-bit ones stay holes, and a failure leaves no chunk for the other
// channels. Every such case runs with the native helper's copy (copyBlockPagesOnThreads: native/mrc-io.c
// on a thread of its own) and with the JS one (copyBlockPages): the replies must be the same, failures
// included. The JS copy can also be told to pause: it stops between chunks and goes on where it stopped
// when called again (the calling thread copies in slices beside the worker threads). Without the helper
// built its cases skip with one line, or fail under MRC_REQUIRE_NATIVE=1 (CI).
import { mkdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it as vitestIt } from "vitest";
import { copyBlockPages, copyBlockPagesOnThreads, newCopyBuffer } from "../../src/impl/extract-copy.js";
import {
  EXTRACT_CONTROL_BYTES,
  EXTRACT_NEXT_CHUNK,
  EXTRACT_PAGES_DONE,
  type ExtractJob,
  type ExtractReply,
} from "../../src/impl/extract-protocol.js";
import { nativeIo } from "../../src/impl/native-io.js";
import { tempDir } from "../cli/fixtures.js";
import { firstDifferingPage } from "../helpers/images.js";

const PAGE = 4096;
const PAGES = 700; // 256-page chunks: two whole, one of 188
const PAGES_OFFSET = 3 * PAGE;
const dir = await tempDir("extract-copy");

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Bit p set when p % 3 !== 0 or p is in [300, 340): runs of two, and one longer run. */
const isSet = (p: number) => p % 3 !== 0 || (p >= 300 && p < 340);

async function job(name: string, copier: string): Promise<ExtractJob> {
  const source = join(dir, `${name}-${copier}.src`);
  const output = join(dir, `${name}-${copier}.bin`);
  // every page of the source holds its index and a fill byte, set or not (clear ones must not be read)
  const file = new Uint8Array(PAGES_OFFSET + PAGES * PAGE).fill(0xaa, 0, PAGES_OFFSET);
  const view = new DataView(file.buffer);
  for (let p = 0; p < PAGES; p++) {
    file.fill((p % 250) + 1, PAGES_OFFSET + p * PAGE, PAGES_OFFSET + (p + 1) * PAGE);
    view.setUint32(PAGES_OFFSET + p * PAGE, p, true);
  }
  await writeFile(source, file);
  await writeFile(output, new Uint8Array(0));
  await truncate(output, PAGES * PAGE);
  const bitmap = new SharedArrayBuffer(Math.ceil(PAGES / 8));
  const bits = new Uint8Array(bitmap);
  for (let p = 0; p < PAGES; p++) if (isSet(p)) bits[p >>> 3] = (bits[p >>> 3] as number) | (1 << (p & 7));
  return {
    id: 7,
    source,
    output,
    pagesOffset: PAGES_OFFSET,
    numPages: PAGES,
    bitmap,
    control: new SharedArrayBuffer(EXTRACT_CONTROL_BYTES),
  };
}

/** The block file the copy must leave: the source page where the bit is set, zeros elsewhere. */
function expected(): Uint8Array {
  const out = new Uint8Array(PAGES * PAGE);
  const view = new DataView(out.buffer);
  for (let p = 0; p < PAGES; p++) {
    if (!isSet(p)) continue;
    out.fill((p % 250) + 1, p * PAGE, (p + 1) * PAGE);
    view.setUint32(p * PAGE, p, true);
  }
  return out;
}

const setPages = Array.from({ length: PAGES }, (_, p) => p).filter(isSet).length;

const native = nativeIo();
if (native === undefined && process.env.MRC_REQUIRE_NATIVE !== "1")
  console.warn("native copy cases skipped: dist/native/mrc-io.node is not built (npm run build)");

/** The block file as the copy left it, against `want`: -1 when every page is the same. */
async function differingPage(j: ExtractJob, want: Uint8Array): Promise<number> {
  return firstDifferingPage(new Uint8Array(await readFile(j.output)), want);
}

/** One channel's copy of a job, to the end or its first failure. */
type Copy = (j: ExtractJob) => Promise<ExtractReply>;

const copies: ReadonlyArray<readonly [string, Copy | null]> = [
  ["native", native ? (j) => copyBlockPagesOnThreads(j, 1, native) : null],
  ["js", async (j) => copyBlockPages(j, newCopyBuffer())],
];

describe.each(copies)("%s copy", (copier, copyOrNull) => {
  const skip = copyOrNull === null && process.env.MRC_REQUIRE_NATIVE !== "1";
  const it = skip ? vitestIt.skip : vitestIt;
  const copy: Copy = (j) => {
    if (copyOrNull === null) throw new Error("MRC_REQUIRE_NATIVE=1 but dist/native/mrc-io.node is not built");
    return copyOrNull(j);
  };

  it("copies every set-bit page to its place and nothing else", async () => {
    const j = await job("whole", copier);
    expect(await copy(j)).toEqual({ id: 7, ok: true });
    expect(await differingPage(j, expected())).toBe(-1);
    // three chunks taken, then a fourth take finds none left
    expect(Array.from(new Int32Array(j.control))).toEqual([4, setPages]);
    expect(setPages).toBe(480);
  });

  it("a failure leaves no chunk for the other channels: a later call takes none", async () => {
    const j = await job("short", copier);
    // the file ends inside the run [298, 342) of chunk 1 (pages 256–511): two of its 44 pages are there
    await truncate(j.source, PAGES_OFFSET + 300 * PAGE);
    expect(await copy(j)).toEqual({
      id: 7,
      ok: false,
      kind: "short",
      page: 298,
      from: PAGES_OFFSET + 298 * PAGE,
      got: 2 * PAGE,
      want: 44 * PAGE,
    });
    const ctl = new Int32Array(j.control);
    const done = ctl[EXTRACT_PAGES_DONE];
    expect(ctl[EXTRACT_NEXT_CHUNK]).toBe(3);
    // another channel, calling now, finds nothing left and copies nothing
    expect(await copy(j)).toEqual({ id: 7, ok: true });
    expect([ctl[EXTRACT_NEXT_CHUNK], ctl[EXTRACT_PAGES_DONE]]).toEqual([4, done]);
  });

  it("a read that fails names the source offset of the run (the source is a directory: EISDIR)", async () => {
    const j = await job("readfails", copier);
    const folder = join(dir, `readfails-${copier}.dir`);
    await mkdir(folder);
    expect(await copy({ ...j, source: folder })).toEqual({
      id: 7,
      ok: false,
      kind: "read",
      code: "EISDIR",
      message: "EISDIR: illegal operation on a directory, read",
      position: PAGES_OFFSET + 1 * PAGE, // page 0 is clear; the first run is [1, 3)
    });
    expect(new Int32Array(j.control)[EXTRACT_NEXT_CHUNK]).toBe(3);
  });

  it("a write that fails names the block file offset (the block file is /dev/full: ENOSPC)", async () => {
    const j = await job("writefails", copier);
    expect(await copy({ ...j, output: "/dev/full" })).toEqual({
      id: 7,
      ok: false,
      kind: "write",
      code: "ENOSPC",
      message: "ENOSPC: no space left on device, write",
      position: 1 * PAGE,
    });
  });
});

describe("copyBlockPages told to pause (the calling thread's slices)", () => {
  vitestIt("told to pause, it takes no chunk and replies paused", async () => {
    const j = await job("paused", "js");
    expect(copyBlockPages(j, newCopyBuffer(), () => true)).toEqual({ id: 7, ok: true, paused: true });
    const ctl = new Int32Array(j.control);
    expect([ctl[EXTRACT_NEXT_CHUNK], ctl[EXTRACT_PAGES_DONE]]).toEqual([0, 0]);
    expect(await differingPage(j, new Uint8Array(PAGES * PAGE))).toBe(-1);
  });

  vitestIt(
    "paused after every chunk and called again, it copies one chunk a call and the whole block",
    async () => {
      const j = await job("slices", "js");
      const buf = newCopyBuffer();
      const ctl = new Int32Array(j.control);
      const seen: number[][] = [];
      for (;;) {
        let asked = 0;
        const r = copyBlockPages(j, buf, () => asked++ > 0);
        seen.push([ctl[EXTRACT_NEXT_CHUNK] as number, ctl[EXTRACT_PAGES_DONE] as number]);
        if (!(r.ok && r.paused)) {
          expect(r).toEqual({ id: 7, ok: true });
          break;
        }
      }
      const setIn = (a: number, b: number) =>
        Array.from({ length: b - a }, (_, i) => a + i).filter(isSet).length;
      expect(seen).toEqual([
        [1, setIn(0, 256)],
        [2, setIn(0, 512)],
        [3, setIn(0, 700)],
        [4, setIn(0, 700)],
      ]);
      expect(await differingPage(j, expected())).toBe(-1);
    },
  );
});
