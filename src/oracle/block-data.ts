// migration/ram.c: read_ramblock_mapped_ram, ram_save_file_bmap — a block's bitmap and page array.
//
// Bitmap: byte i/8, bit i%8 (64-bit little-endian host words), bitmap_size bytes at bitmap_offset.
// Page i: 4096 bytes at pages_offset + i*4096, loaded iff bit i is set; clear-bit pages are never
// read by QEMU (they may hold stale bytes after a live save), nor here unless scanClearPages asks.
// Everything is read in chunks.
import { bitIsSet } from "./bitmap.js";
import { equalRange, hex, isZero, quote } from "./bytes.js";
import { PAGE_SIZE } from "./constants.js";
import { type ByteSource, readRange } from "./source.js";
import type { ObservedBlock, Walk } from "./walk.js";

const PAGE = Number(PAGE_SIZE);
/** Pages per chunk of the page scan (1 MiB). A multiple of 8, so chunks start on bitmap bytes. */
const CHUNK_PAGES = 256;
/** Bitmap bytes per chunk of the bitmap scan. */
const BITMAP_CHUNK = 64 * 1024;

/** First offending place and how many there are, for one finding per block and check. */
class Tally {
  count = 0;
  first = -1;
  note(i: number): void {
    if (this.count++ === 0) this.first = i;
  }
}

export async function scanBlockData(w: Walk, b: ObservedBlock, image: ByteSource | undefined): Promise<void> {
  const subject = `ramblock ${quote(b.idstr)}`;
  const bitmapEnd = b.bitmapOffset + b.bitmapSize;
  if (bitmapEnd > w.size) return; // ram.bitmap.outOfFile already says why nothing can be checked
  const numPages = Number(b.numPages);
  const pageEnd = (i: number) => b.pagesOffset + BigInt(i + 1) * PAGE_SIZE;

  // Pass 1: the bitmap on its own.
  const trailing = new Tally();
  const pastEof = new Tally();
  let setBits = 0;
  for (let byte0 = 0; byte0 < Number(b.bitmapSize); byte0 += BITMAP_CHUNK) {
    const len = Math.min(BITMAP_CHUNK, Number(b.bitmapSize) - byte0);
    const chunk = await readRange(w.src, b.bitmapOffset + BigInt(byte0), len);
    if (chunk === undefined) return;
    for (let j = 0; j < len; j++) {
      if (chunk[j] === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if (!bitIsSet(chunk, j * 8 + bit)) continue;
        const page = (byte0 + j) * 8 + bit;
        if (page >= numPages) trailing.note(byte0 + j);
        else {
          setBits++;
          if (pageEnd(page) > w.size) pastEof.note(page);
        }
      }
    }
  }
  if (trailing.count > 0) {
    w.report("ram.bitmap.trailingBits", b.bitmapOffset + BigInt(trailing.first), {
      subject,
      field: "bitmap",
      rule: `bits past num_pages (${numPages}) must be 0: ${trailing.count} are set`,
      expected: "0",
      actual: String(trailing.count),
    });
  }
  if (pastEof.count > 0) {
    const at = b.pagesOffset + BigInt(pastEof.first) * PAGE_SIZE;
    w.report("ram.pages.setBitPastEof", at, {
      subject,
      field: `page ${pastEof.first}`,
      rule: `must lie inside the file (size ${hex(w.size)}): ${pastEof.count} set bits name pages past its end`,
      expected: `end <= ${hex(w.size)}`,
      actual: hex(at + PAGE_SIZE),
    });
  }

  // Pass 2: pages, against the bitmap and the image.
  const scanStale = w.options.scanClearPages ?? true;
  const imagePages = image === undefined ? 0 : Number(image.size / PAGE_SIZE);
  const mode = w.options.zeroPageDetection ?? "any";
  const everyBit = mode === "none" || (mode === "any" && setBits === numPages);
  const pagesInFile =
    b.pagesOffset >= w.size ? 0 : Math.min(numPages, Number((w.size - b.pagesOffset) / PAGE_SIZE));
  const limit = Math.max(
    scanStale ? pagesInFile : 0,
    image === undefined ? 0 : Math.min(numPages, imagePages),
  );
  const stale = new Tally();
  const bitDiff = new Tally();
  const pageDiff = new Tally();
  let firstDiffSet = false;
  const filePages = new Uint8Array(CHUNK_PAGES * PAGE);
  const imagePagesBuf = image === undefined ? undefined : new Uint8Array(CHUNK_PAGES * PAGE);
  for (let first = 0; first < limit; first += CHUNK_PAGES) {
    const count = Math.min(CHUNK_PAGES, limit - first);
    const bits = await readRange(w.src, b.bitmapOffset + BigInt(first / 8), Math.ceil(count / 8));
    if (bits === undefined) return;
    const inFile = Math.max(0, Math.min(count, pagesInFile - first));
    const fileView = filePages.subarray(0, inFile * PAGE);
    const fileAt = b.pagesOffset + BigInt(first) * PAGE_SIZE;
    if (scanStale) {
      const got = await w.src.readInto(fileAt, fileView);
      fileView.fill(0, got);
    } else {
      // only the pages QEMU loads: each run of set bits with one read; clear pages are never read
      for (let k = 0; k < inFile; ) {
        if (!bitIsSet(bits, k)) {
          k++;
          continue;
        }
        let end = k + 1;
        while (end < inFile && bitIsSet(bits, end)) end++;
        const run = fileView.subarray(k * PAGE, end * PAGE);
        const got = await w.src.readInto(fileAt + BigInt(k) * PAGE_SIZE, run);
        run.fill(0, got);
        k = end;
      }
    }
    let imageView: Uint8Array | undefined;
    if (image !== undefined && imagePagesBuf !== undefined) {
      imageView = imagePagesBuf.subarray(0, Math.max(0, Math.min(count, imagePages - first)) * PAGE);
      const n = await image.readInto(BigInt(first) * PAGE_SIZE, imageView);
      imageView.fill(0, n);
    }
    for (let k = 0; k < count; k++) {
      const page = first + k;
      const set = bitIsSet(bits, k);
      const from = k * PAGE;
      const to = from + PAGE;
      if (!set && k < inFile && scanStale && !isZero(fileView, from, to)) stale.note(page);
      if (imageView === undefined || to > imageView.length) continue;
      const want = everyBit || !isZero(imageView, from, to);
      if (want !== set) {
        if (bitDiff.count === 0) firstDiffSet = set;
        bitDiff.note(page);
      }
      if (set && k < inFile && !equalRange(fileView, imageView, from, to)) pageDiff.note(page);
    }
    w.options.onProgress?.(b.pagesOffset + BigInt(first + count) * PAGE_SIZE, w.size);
  }
  if (stale.count > 0) {
    w.report("ram.pages.staleUnderClearBit", b.pagesOffset + BigInt(stale.first) * PAGE_SIZE, {
      subject,
      field: `page ${stale.first}`,
      rule: `is not loaded (bit clear) but holds non-zero bytes: ${stale.count} such pages`,
    });
  }
  if (bitDiff.count > 0) {
    const i = bitDiff.first;
    const want = !firstDiffSet;
    w.report("ram.image.bitmapMismatch", b.bitmapOffset + BigInt(Math.floor(i / 8)), {
      subject,
      field: `bitmap bit ${i}`,
      rule: `must be what a save of the image gives${everyBit ? " (zero-page-detection=none: every bit)" : ""}: ${bitDiff.count} bits differ`,
      expected: want ? "1" : "0",
      actual: want ? "0" : "1",
    });
  }
  if (pageDiff.count > 0) {
    w.report("ram.image.pageMismatch", b.pagesOffset + BigInt(pageDiff.first) * PAGE_SIZE, {
      subject,
      field: `page ${pageDiff.first}`,
      rule: `must equal the image's page: ${pageDiff.count} pages differ`,
    });
  }
}
