// copyBlockPages (extract-copy.ts), the copy every loader channel runs, on a hand-made page array:
// set-bit pages land at their place in the block file, clear-bit ones stay holes, and a copy told to
// pause stops between chunks and goes on where it stopped when called again (the calling thread
// copies in slices beside the worker threads).
import { readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copyBlockPages, newCopyBuffer } from "../../src/impl/extract-copy.js";
import {
  EXTRACT_CONTROL_BYTES,
  EXTRACT_NEXT_CHUNK,
  EXTRACT_PAGES_DONE,
  type ExtractJob,
} from "../../src/impl/extract-protocol.js";
import { tempDir } from "../cli/fixtures.js";

const PAGE = 4096;
const PAGES = 700; // 256-page chunks: two whole, one of 188
const PAGES_OFFSET = 3 * PAGE;
const dir = await tempDir("extract-copy");

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Bit p set when p % 3 !== 0 or p is in [300, 340): runs of two, and one longer run. */
const isSet = (p: number) => p % 3 !== 0 || (p >= 300 && p < 340);

async function job(name: string): Promise<ExtractJob> {
  const source = join(dir, `${name}.src`);
  const output = join(dir, `${name}.bin`);
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

describe("copyBlockPages", () => {
  it("copies every set-bit page to its place and nothing else", async () => {
    const j = await job("whole");
    expect(copyBlockPages(j, newCopyBuffer())).toEqual({ id: 7, ok: true });
    expect(new Uint8Array(await readFile(j.output))).toEqual(expected());
    // three chunks taken, then a fourth take finds none left
    expect(Array.from(new Int32Array(j.control))).toEqual([4, setPages]);
    expect(setPages).toBe(480);
  });

  it("told to pause, it takes no chunk and replies paused", async () => {
    const j = await job("paused");
    expect(copyBlockPages(j, newCopyBuffer(), () => true)).toEqual({ id: 7, ok: true, paused: true });
    const ctl = new Int32Array(j.control);
    expect([ctl[EXTRACT_NEXT_CHUNK], ctl[EXTRACT_PAGES_DONE]]).toEqual([0, 0]);
    expect(new Uint8Array(await readFile(j.output))).toEqual(new Uint8Array(PAGES * PAGE));
  });

  it("paused after every chunk and called again, it copies one chunk a call and the whole block", async () => {
    const j = await job("slices");
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
    expect(new Uint8Array(await readFile(j.output))).toEqual(expected());
  });

  it("a failure leaves no chunk for the other channels: a later call takes none", async () => {
    const j = await job("short");
    // the file ends inside the run [298, 342) of chunk 1 (pages 256–511): two of its 44 pages are there
    await truncate(j.source, PAGES_OFFSET + 300 * PAGE);
    const buf = newCopyBuffer();
    expect(copyBlockPages(j, buf)).toEqual({
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
    expect(copyBlockPages(j, buf)).toEqual({ id: 7, ok: true });
    expect([ctl[EXTRACT_NEXT_CHUNK], ctl[EXTRACT_PAGES_DONE]]).toEqual([4, done]);
  });
});
