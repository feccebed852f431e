// migration/ram.c: save_zero_page, save_normal_page, ram_save_file_bmap — the bitmap of a stopped-VM save.
//
// The bitmap is the raw `unsigned long` array of the host: on x86_64 64-bit little-endian words,
// which is byte i/8, bit i%8 (LSB first). Its length is rounded up to whole 8-byte words; bits
// past num_pages are 0. Bit i is set iff page i was written: for a VM that never ran, iff page i
// is not all zero — and every bit under zero-page-detection=none, which writes every page.
import { isZero } from "./bytes.js";
import { PAGE_SIZE } from "./constants.js";
import { bitmapSizeFor } from "./layout.js";
import type { ByteSource } from "./source.js";

export type ZeroPageDetection = "none" | "legacy" | "multifd";

export interface BitmapOptions {
  /** default `multifd` (QEMU's default); `legacy` gives the same bitmap */
  readonly zeroPageDetection?: ZeroPageDetection;
}

const PAGE = Number(PAGE_SIZE);

export function bitIsSet(bitmap: Uint8Array, i: number): boolean {
  return (((bitmap[i >>> 3] ?? 0) >>> (i & 7)) & 1) === 1;
}

export function setBit(bitmap: Uint8Array, i: number): void {
  const at = i >>> 3;
  bitmap[at] = (bitmap[at] ?? 0) | (1 << (i & 7));
}

/** Bitmap of a stopped-VM save of `image` (one block's RAM, `used_length` bytes). */
export function expectedBitmap(image: Uint8Array, options: BitmapOptions = {}): Uint8Array {
  const numPages = Math.floor(image.length / PAGE);
  const bitmap = new Uint8Array(Number(bitmapSizeFor(BigInt(numPages))));
  const all = options.zeroPageDetection === "none";
  for (let i = 0; i < numPages; i++) {
    if (all || !isZero(image, i * PAGE, (i + 1) * PAGE)) setBit(bitmap, i);
  }
  return bitmap;
}

/** The same for an image behind a random-access source, read in chunks of `chunkPages` pages. */
export async function expectedBitmapOf(
  image: ByteSource,
  options: BitmapOptions & { readonly chunkPages?: number } = {},
): Promise<Uint8Array> {
  const numPages = Number(image.size / PAGE_SIZE);
  const bitmap = new Uint8Array(Number(bitmapSizeFor(BigInt(numPages))));
  const all = options.zeroPageDetection === "none";
  const chunkPages = options.chunkPages ?? 256;
  const buf = new Uint8Array(chunkPages * PAGE);
  for (let first = 0; first < numPages; first += chunkPages) {
    const count = Math.min(chunkPages, numPages - first);
    const view = buf.subarray(0, count * PAGE);
    const n = await image.readInto(BigInt(first) * PAGE_SIZE, view);
    view.fill(0, n);
    for (let j = 0; j < count; j++) {
      if (all || !isZero(view, j * PAGE, (j + 1) * PAGE)) setBit(bitmap, first + j);
    }
  }
  return bitmap;
}
