// An in-memory sparse file for hand-made test files: extents over zeros, later writes win.
// It is a ByteSource for the oracle and can be written to disk with its holes kept.
import { open } from "node:fs/promises";
import type { ByteSource } from "../../../src/oracle/index.js";

interface Extent {
  readonly offset: bigint;
  readonly bytes: Uint8Array;
}

export class SparseFile implements ByteSource {
  private readonly extents: Extent[] = [];
  size = 0n;

  write(offset: bigint, bytes: Uint8Array): this {
    this.extents.push({ offset, bytes: bytes.slice() });
    const end = offset + BigInt(bytes.length);
    if (end > this.size) this.size = end;
    return this;
  }

  /** Overwrite bytes (the file does not grow past `size` unless the patch runs past it). */
  patch(offset: bigint, bytes: Uint8Array | readonly number[]): this {
    return this.write(offset, Uint8Array.from(bytes));
  }

  truncate(size: bigint): this {
    this.size = size;
    return this;
  }

  async readInto(offset: bigint, into: Uint8Array): Promise<number> {
    return this.readSync(offset, into);
  }

  readSync(offset: bigint, into: Uint8Array): number {
    if (offset >= this.size) return 0;
    const n = Number(this.size - offset < BigInt(into.length) ? this.size - offset : BigInt(into.length));
    into.fill(0, 0, n);
    const end = offset + BigInt(n);
    for (const e of this.extents) {
      const eEnd = e.offset + BigInt(e.bytes.length);
      if (eEnd <= offset || e.offset >= end) continue;
      const from = e.offset > offset ? e.offset : offset;
      const to = eEnd < end ? eEnd : end;
      into.set(e.bytes.subarray(Number(from - e.offset), Number(to - e.offset)), Number(from - offset));
    }
    return n;
  }

  bytesAt(offset: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readSync(offset, out);
    return out;
  }

  /** A copy that can be changed without touching this one. */
  clone(): SparseFile {
    const c = new SparseFile();
    for (const e of this.extents) c.write(e.offset, e.bytes);
    c.size = this.size;
    return c;
  }

  /** Write to `path` keeping holes (extents written in order, then the size set). */
  async saveTo(path: string): Promise<void> {
    const fh = await open(path, "w");
    try {
      for (const e of this.extents) {
        if (e.offset >= this.size) continue;
        const keep =
          this.size - e.offset < BigInt(e.bytes.length) ? Number(this.size - e.offset) : e.bytes.length;
        await fh.write(e.bytes, 0, keep, Number(e.offset));
      }
      await fh.truncate(Number(this.size));
    } finally {
      await fh.close();
    }
  }
}
