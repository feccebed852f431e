// What the oracle reads of a file: QEMU's loader never reads a page whose bit is clear (issue 9: never
// read what the bitmap says is absent), and neither does the check unless scanClearPages asks for it.
import { describe, expect, it } from "vitest";
import { type ByteSource, checkFile, memorySource } from "../../src/oracle/index.js";
import { buildFile } from "./helpers/builder.js";

const PAGE = 4096;
const PAGES = 600; // more than two 256-page chunks of the page scan

/** Page i is zero when i % 3 === 0 (its bit is clear); the others hold i. */
function image(): Uint8Array {
  const img = new Uint8Array(PAGES * PAGE);
  for (let i = 0; i < PAGES; i++) if (i % 3 !== 0) img.fill((i % 250) + 1, i * PAGE, (i + 1) * PAGE);
  return img;
}

/** A source that records every [from, to) it is asked for. */
function recording(src: ByteSource): { src: ByteSource; reads: Array<[bigint, bigint]> } {
  const reads: Array<[bigint, bigint]> = [];
  return {
    reads,
    src: {
      size: src.size,
      async readInto(offset, into) {
        reads.push([offset, offset + BigInt(into.length)]);
        return src.readInto(offset, into);
      },
    },
  };
}

describe("pages whose bit is clear", () => {
  const img = image();
  const built = buildFile({ blocks: [{ idstr: "r", pages: PAGES, image: img }] });
  const pagesAt = built.blocks[0]?.pages as bigint;
  const pagesEnd = pagesAt + BigInt(PAGES * PAGE);
  /**
   * The clear-bit pages any read of the page area touched. Not counted: the one read of the file's
   * last 64 KiB that looks for the vmdesc (it starts in the last pages and runs past them).
   */
  const clearPagesRead = (reads: Array<[bigint, bigint]>) => {
    const touched = new Set<number>();
    for (const [from, to] of reads) {
      if (to > pagesEnd) continue;
      for (let i = 0; i < PAGES; i += 3) {
        const p0 = pagesAt + BigInt(i * PAGE);
        if (from < p0 + BigInt(PAGE) && to > p0) touched.add(i);
      }
    }
    return touched.size;
  };

  it("are never read when the pages are checked against the image (default)", async () => {
    const file = recording(built.file);
    const report = await checkFile(file.src, {
      ram: [{ idstr: "r", image: memorySource(img) }],
      scanClearPages: false,
    });
    expect(report.findings).toEqual([]);
    expect(clearPagesRead(file.reads)).toBe(0);
    // while every set-bit page was read: 400 pages in runs of two
    const setRead = new Set<number>();
    for (const [from, to] of file.reads) {
      for (let i = 1; i < PAGES; i++) {
        const p0 = pagesAt + BigInt(i * PAGE);
        if (i % 3 !== 0 && from <= p0 && to >= p0 + BigInt(PAGE)) setRead.add(i);
      }
    }
    expect(setRead.size).toBe(400);
  });

  it("are never read without an image either", async () => {
    const file = recording(built.file);
    expect((await checkFile(file.src, { scanClearPages: false })).findings).toEqual([]);
    expect(clearPagesRead(file.reads)).toBe(0);
  });

  it("are all read with scanClearPages (the stale-byte scan)", async () => {
    const file = recording(built.file);
    expect((await checkFile(file.src, { scanClearPages: true })).findings).toEqual([]);
    expect(clearPagesRead(file.reads)).toBe(200);
  });
});
