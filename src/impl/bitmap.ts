// migration/ram.c: RAMBlock->file_bmap, written by ram_save_file_bmap as raw host `unsigned long`s.
// On x86_64 a host word is 64-bit little endian, so bit i lives in byte i/8 at bit i%8 (LSB first),
// and the bitmap is padded to whole 8-byte words.

import { toSafeNumber } from "./bytes.js";
import { bitmapSizeFor } from "./layout.js";

/** Set bits of each byte value. */
const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let v = b; v !== 0; v &= v - 1) n++;
  return n;
});

export class PageBitmap {
  /** bitmap bytes as stored in the file (64-bit little-endian words) */
  readonly bytes: Uint8Array;

  constructor(
    readonly numPages: number,
    bytes?: Uint8Array,
  ) {
    const size = toSafeNumber(bitmapSizeFor(BigInt(numPages)), "bitmap size");
    if (bytes && bytes.length !== size)
      throw new RangeError(`bitmap of ${numPages} pages needs ${size} bytes`);
    this.bytes = bytes ?? new Uint8Array(size);
  }

  /** A bitmap whose bytes live in shared memory, for channels on worker threads. */
  static shared(numPages: number): PageBitmap {
    const size = toSafeNumber(bitmapSizeFor(BigInt(numPages)), "bitmap size");
    return new PageBitmap(numPages, new Uint8Array(new SharedArrayBuffer(size)));
  }

  get(page: number): boolean {
    return (((this.bytes[page >>> 3] as number) >>> (page & 7)) & 1) === 1;
  }
  /** set_bit_atomic: byte-wise Atomics, so channels on other threads can update the same bitmap. */
  set(page: number): void {
    Atomics.or(this.bytes, page >>> 3, 1 << (page & 7));
  }
  /** clear_bit_atomic */
  clear(page: number): void {
    Atomics.and(this.bytes, page >>> 3, ~(1 << (page & 7)) & 0xff);
  }

  /** Number of set bits among the first numPages. */
  count(): number {
    const whole = this.numPages >>> 3;
    let n = 0;
    for (let i = 0; i < whole; i++) n += POPCOUNT[this.bytes[i] as number] as number;
    for (let p = whole * 8; p < this.numPages; p++) if (this.get(p)) n++;
    return n;
  }

  /** The first set bit at or after `from` among the first numPages, or -1. */
  nextSet(from: number): number {
    let p = Math.max(0, from);
    while (p < this.numPages) {
      if ((p & 7) === 0 && this.bytes[p >>> 3] === 0) {
        p += 8;
        continue;
      }
      if (this.get(p)) return p;
      p++;
    }
    return -1;
  }

  /** Indexes of set bits at or past numPages (bits QEMU never sets). */
  bitsPastEnd(): number[] {
    const out: number[] = [];
    for (let p = this.numPages; p < this.bytes.length * 8; p++) if (this.get(p)) out.push(p);
    return out;
  }

  /** Runs [first, end) of consecutive set bits among the first numPages. */
  *setRuns(): Generator<[number, number]> {
    let p = 0;
    while (p < this.numPages) {
      // skip whole zero bytes quickly
      if ((p & 7) === 0 && this.bytes[p >>> 3] === 0) {
        p += 8;
        continue;
      }
      if (!this.get(p)) {
        p++;
        continue;
      }
      const first = p;
      while (p < this.numPages && this.get(p)) p++;
      yield [first, p];
    }
  }
}
