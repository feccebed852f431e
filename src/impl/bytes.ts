// Byte helpers: every multi-byte read/write names its byte order. The only DataView factory lives here.

/** A DataView over exactly the bytes of `u8` (never the whole underlying buffer). */
export function viewOf(u8: Uint8Array): DataView {
  return new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** The one way from a 64-bit value to a JS number: throws above Number.MAX_SAFE_INTEGER. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${what} ${hex(v)} does not fit in a safe integer`);
  }
  return Number(v);
}

/** `0x`-prefixed lowercase hex of a number or bigint. */
export function hex(v: bigint | number): string {
  return v < 0 ? `-0x${(-BigInt(v)).toString(16)}` : `0x${v.toString(16)}`;
}

export function u8At(u8: Uint8Array, at: number): number {
  const v = u8[at];
  if (v === undefined) throw new RangeError(`byte index ${at} out of range`);
  return v;
}

export function u16beAt(u8: Uint8Array, at: number): number {
  return viewOf(u8).getUint16(at, false);
}
export function u32beAt(u8: Uint8Array, at: number): number {
  return viewOf(u8).getUint32(at, false);
}
export function u64beAt(u8: Uint8Array, at: number): bigint {
  return viewOf(u8).getBigUint64(at, false);
}
/** `count` big-endian u64 values from `at` (one DataView for all of them). */
export function u64beArrayAt(u8: Uint8Array, at: number, count: number): bigint[] {
  const v = viewOf(u8);
  const out: bigint[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = v.getBigUint64(at + 8 * i, false);
  return out;
}
export function i64beAt(u8: Uint8Array, at: number): bigint {
  return viewOf(u8).getBigInt64(at, false);
}
export function u64leAt(u8: Uint8Array, at: number): bigint {
  return viewOf(u8).getBigUint64(at, true);
}

/** Growable big-endian byte builder for stream records. */
export class ByteWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  u8(v: number): this {
    const at = this.reserve(1);
    this.buf[at] = v & 0xff;
    return this;
  }
  u16be(v: number): this {
    const at = this.reserve(2);
    viewOf(this.buf).setUint16(at, v, false);
    return this;
  }
  u32be(v: number): this {
    const at = this.reserve(4);
    viewOf(this.buf).setUint32(at, v >>> 0, false);
    return this;
  }
  u64be(v: bigint): this {
    const at = this.reserve(8);
    viewOf(this.buf).setBigUint64(at, BigInt.asUintN(64, v), false);
    return this;
  }
  i64be(v: bigint): this {
    const at = this.reserve(8);
    viewOf(this.buf).setBigInt64(at, BigInt.asIntN(64, v), false);
    return this;
  }
  bytes(b: Uint8Array): this {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
    return this;
  }
  zeros(n: number): this {
    const at = this.reserve(n);
    this.buf.fill(0, at, at + n);
    return this;
  }
  /** u8 length followed by the raw bytes (QEMU's counted string, no NUL). */
  countedString(s: string | Uint8Array): this {
    const b = typeof s === "string" ? latin1(s) : s;
    if (b.length > 255) throw new RangeError(`counted string of ${b.length} bytes is longer than 255`);
    return this.u8(b.length).bytes(b);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Encode a string one byte per UTF-16 unit (QEMU idstrs are C strings: bytes, not text). */
export function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`character U+${c.toString(16)} in "${s}" is not a single byte`);
    out[i] = c;
  }
  return out;
}

/** Decode bytes one char per byte (inverse of latin1). */
export function fromLatin1(b: Uint8Array): string {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
