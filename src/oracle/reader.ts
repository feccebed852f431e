// A sequential reader over a ByteSource for the main migration stream. It never throws on short
// input: every read returns `undefined` when the file does not hold the bytes asked for.
import { latin1, minBig, u16be, u32be, u64be } from "./bytes.js";
import { type ByteSource, MAX_READ, readRange } from "./source.js";

const WINDOW = 64 * 1024;

export class StreamReader {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0n;
  pos: bigint;

  constructor(
    readonly src: ByteSource,
    start: bigint,
  ) {
    this.pos = start;
  }

  get remaining(): bigint {
    return this.src.size > this.pos ? this.src.size - this.pos : 0n;
  }

  /** Exactly `n` bytes at the cursor (advancing), or undefined (not advancing) when short. */
  async take(n: number): Promise<Uint8Array | undefined> {
    if (n < 0 || n > MAX_READ || BigInt(n) > this.remaining) return undefined;
    const rel = this.pos - this.windowStart;
    if (rel < 0n || rel + BigInt(n) > BigInt(this.window.length)) {
      const len = Number(minBig(BigInt(Math.max(n, WINDOW)), this.remaining));
      const w = await readRange(this.src, this.pos, len);
      if (w === undefined) return undefined;
      this.window = w;
      this.windowStart = this.pos;
    }
    const s = Number(this.pos - this.windowStart);
    this.pos += BigInt(n);
    return this.window.subarray(s, s + n);
  }

  async u8(): Promise<number | undefined> {
    const b = await this.take(1);
    return b?.[0];
  }

  async peekU8(): Promise<number | undefined> {
    const v = await this.u8();
    if (v !== undefined) this.pos -= 1n;
    return v;
  }

  async u16be(): Promise<number | undefined> {
    const b = await this.take(2);
    return b && u16be(b, 0);
  }

  async u32be(): Promise<number | undefined> {
    const b = await this.take(4);
    return b && u32be(b, 0);
  }

  async u64be(): Promise<bigint | undefined> {
    const b = await this.take(8);
    return b && u64be(b, 0);
  }

  /** u8 length + bytes (QEMU's counted string), as a byte string. */
  async counted(): Promise<string | undefined> {
    const at = this.pos;
    const n = await this.u8();
    if (n === undefined) return undefined;
    const b = await this.take(n);
    if (b === undefined) {
      this.pos = at;
      return undefined;
    }
    return latin1(b);
  }

  seek(to: bigint): void {
    this.pos = to;
  }
}
