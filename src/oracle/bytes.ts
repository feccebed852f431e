// Byte helpers of the oracle (its own copy: the oracle imports nothing from the reference implementation).
// Every multi-byte read names its byte order; the one DataView factory lives here.

/** A DataView over exactly the bytes of `u8` (never the whole underlying buffer). */
export function viewOf(u8: Uint8Array): DataView {
  return new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
}

export function u16be(u8: Uint8Array, at: number): number {
  return viewOf(u8).getUint16(at, false);
}

export function u32be(u8: Uint8Array, at: number): number {
  return viewOf(u8).getUint32(at, false);
}

export function u64be(u8: Uint8Array, at: number): bigint {
  return viewOf(u8).getBigUint64(at, false);
}

/** `0x`-prefixed lowercase hex. */
export function hex(v: bigint | number): string {
  return v < 0 ? `-0x${(-BigInt(v)).toString(16)}` : `0x${v.toString(16)}`;
}

/** The one way from a 64-bit offset to a JS number: throws above Number.MAX_SAFE_INTEGER. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${what} ${hex(v)} does not fit in a safe integer`);
  }
  return Number(v);
}

/** QEMU idstrs and names are C bytes, not text: one UTF-16 unit per byte. */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** Zeros to compare against: Buffer.compare is one memcmp, where a loop in JS is one check per word. */
const ZEROS = new Uint8Array(64 * 1024);

/** True when every byte of `u8[from, to)` is zero. */
export function isZero(u8: Uint8Array, from = 0, to = u8.length): boolean {
  for (let i = from; i < to; i += ZEROS.length) {
    const end = Math.min(to, i + ZEROS.length);
    if (Buffer.compare(u8.subarray(i, end), ZEROS.subarray(0, end - i)) !== 0) return false;
  }
  return true;
}

/** True when `a[from, to)` and `b[from, to)` hold the same bytes. */
export function equalRange(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  return Buffer.compare(a.subarray(from, to), b.subarray(from, to)) === 0;
}

/** Printable ASCII without spaces or quotes: what QEMU machine and capability names look like. */
export function isPrintableName(s: string): boolean {
  return /^[\x21-\x7e]+$/.test(s);
}

/** Quote a C string for a message: printable ASCII as is, other bytes as \xNN. */
export function quote(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? s[i] : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return `"${out}"`;
}

/** The smaller of two bigints (Math.min does not take bigints). */
export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
