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

  /** The first set bit at or after `from` and before `to` (default numPages), or -1. */
  nextSet(from: number, to = this.numPages): number {
    return this.firstWith(1, from, to);
  }

  /** The first clear bit at or after `from` and before `to` (default numPages), or `to`. */
  nextClear(from: number, to = this.numPages): number {
    const p = this.firstWith(0, from, to);
    return p < 0 ? to : p;
  }

  /** The first page in [from, to) whose bit is `value`, or -1; whole bytes of the other value are skipped. */
  private firstWith(value: 0 | 1, from: number, to: number): number {
    const bytes = this.bytes;
    const skip = value === 1 ? 0 : 0xff;
    let p = Math.max(0, from);
    while (p < to) {
      const byte = bytes[p >>> 3] as number;
      if ((p & 7) === 0 && p + 8 <= to && byte === skip) {
        p += 8;
        continue;
      }
      if (((byte >>> (p & 7)) & 1) === value) return p;
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
    for (let p = this.nextSet(0); p >= 0; ) {
      const end = this.nextClear(p);
      yield [p, end];
      p = this.nextSet(end);
    }
  }

  /**
   * The runs of set bits among pages [from, to), cut at both ends, as [first, end) pairs into `out`
   * (room for (to − from + 1) / 2 of them); returns how many. For hot loops: nothing is allocated.
   */
  setRunsIn(from: number, to: number, out: Int32Array): number {
    let n = 0;
    for (let p = this.nextSet(from, to); p >= 0; ) {
      const end = this.nextClear(p, to);
      out[2 * n] = p;
      out[2 * n + 1] = end;
      n++;
      p = this.nextSet(end, to);
    }
    return n;
  }
}
