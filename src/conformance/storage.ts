// Compact storage of golden files. A mapped-ram file is mostly alignment padding and holes, so a
// golden is kept as its non-zero extents (4 KiB granularity) + size + sha256, gzip-compressed, and
// rebuilt bit-exact: ftruncate to the size (holes stay holes), then positional writes of the extents.
//
// Blob layout before gzip (every integer big-endian):
// | bytes | field                                              |
// |-------|----------------------------------------------------|
// | 4     | magic "MRCX"                                       |
// | 4     | be32 format version (1)                            |
// | 8     | be64 file size                                     |
// | 4     | be32 extent count N                                |
// | 16·N  | be64 offset, be64 length (ascending, not touching) |
// | ...   | the extents' bytes, concatenated in order          |
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { ByteWriter, toSafeNumber, u32beAt, u64beAt } from "../impl/bytes.js";

const MAGIC = 0x4d524358; // "MRCX"
const FORMAT_VERSION = 1;
/** Extents are found at this granularity (aligned to absolute offsets). */
export const EXTENT_GRANULE = 4096;
const SCAN_CHUNK = 1 << 20;
/** Rebuilt files are never larger than this (a golden is small; a bad blob must not fill the disk). */
export const MAX_GOLDEN_FILE = 1n << 32n;

export interface Extent {
  offset: bigint;
  length: number;
}

export interface StoredFile {
  size: bigint;
  sha256: string;
  extents: Extent[];
  /** the extents' bytes, concatenated */
  data: Uint8Array;
}

export class GoldenStorageError extends Error {
  override readonly name = "GoldenStorageError";
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** Reads `path` once: its sha256 and its non-zero extents. */
export async function scanFile(path: string): Promise<StoredFile> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat({ bigint: true })).size;
    if (size > MAX_GOLDEN_FILE)
      throw new GoldenStorageError(`${path}: ${size} bytes is too large for a golden`);
    const hash = createHash("sha256");
    const extents: Extent[] = [];
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(SCAN_CHUNK);
    const total = toSafeNumber(size, "file size");
    for (let at = 0; at < total; at += SCAN_CHUNK) {
      const want = Math.min(SCAN_CHUNK, total - at);
      const { bytesRead } = await fh.read(buf, 0, want, at);
      if (bytesRead !== want) throw new GoldenStorageError(`${path}: short read at ${at}`);
      const chunk = buf.subarray(0, want);
      hash.update(chunk);
      for (let g = 0; g < want; g += EXTENT_GRANULE) {
        const end = Math.min(g + EXTENT_GRANULE, want);
        if (isZero(chunk, g, end)) continue;
        const last = extents.at(-1);
        const offset = BigInt(at + g);
        if (last && last.offset + BigInt(last.length) === offset) last.length += end - g;
        else extents.push({ offset, length: end - g });
        parts.push(chunk.slice(g, end));
      }
    }
    const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      data.set(p, o);
      o += p.length;
    }
    return { size, sha256: hash.digest("hex"), extents, data };
  } finally {
    await fh.close();
  }
}

/** The gzip-compressed blob of a scanned file. */
export function encodeBlob(f: StoredFile): Uint8Array {
  const w = new ByteWriter().u32be(MAGIC).u32be(FORMAT_VERSION).u64be(f.size).u32be(f.extents.length);
  for (const e of f.extents) w.u64be(e.offset).u64be(BigInt(e.length));
  w.bytes(f.data);
  return gzipSync(w.finish(), { level: 9 });
}

/** Decodes a blob; checks its structure (not the sha256: that needs the rebuilt file). */
export function decodeBlob(gz: Uint8Array, sha256: string): StoredFile {
  let raw: Uint8Array;
  try {
    raw = gunzipSync(gz);
  } catch (e) {
    throw new GoldenStorageError(`blob is not gzip data: ${(e as Error).message}`);
  }
  const bad = (why: string) => new GoldenStorageError(`blob for ${sha256.slice(0, 12)}: ${why}`);
  if (raw.length < 20 || u32beAt(raw, 0) !== MAGIC) throw bad("bad magic");
  if (u32beAt(raw, 4) !== FORMAT_VERSION) throw bad(`unsupported format version ${u32beAt(raw, 4)}`);
  const size = u64beAt(raw, 8);
  if (size > MAX_GOLDEN_FILE) throw bad(`file size ${size} is too large`);
  const count = u32beAt(raw, 16);
  let at = 20;
  if (at + count * 16 > raw.length) throw bad("extent table runs past the end");
  const extents: Extent[] = [];
  let dataLength = 0;
  let prevEnd = 0n;
  for (let i = 0; i < count; i++, at += 16) {
    const offset = u64beAt(raw, at);
    const length = toSafeNumber(u64beAt(raw, at + 8), "extent length");
    if (offset < prevEnd || offset + BigInt(length) > size || length === 0)
      throw bad(`extent ${i} is out of order`);
    prevEnd = offset + BigInt(length);
    extents.push({ offset, length });
    dataLength += length;
  }
  if (at + dataLength !== raw.length) throw bad("extent data does not match the extent table");
  return { size, sha256, extents, data: raw.subarray(at) };
}

/** sha256 of a file (or of its first `end` bytes), read in chunks. */
export async function sha256File(path: string, end?: bigint): Promise<string> {
  const fh = await open(path, "r");
  try {
    const hash = createHash("sha256");
    const buf = new Uint8Array(SCAN_CHUNK);
    const total = end === undefined ? Number.POSITIVE_INFINITY : toSafeNumber(end, "prefix end");
    for (let at = 0; at < total; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, total - at), at);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    return hash.digest("hex");
  } finally {
    await fh.close();
  }
}

/** Rebuilds a stored file at `path` (written to a temp name, renamed only when its sha256 matched). */
export async function rebuildFile(stored: StoredFile, path: string): Promise<void> {
  const tmp = `${path}.rebuild-${process.pid}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(tmp, constants.O_CREAT | constants.O_TRUNC | constants.O_WRONLY, 0o644);
  try {
    await fh.truncate(toSafeNumber(stored.size, "file size"));
    let o = 0;
    for (const e of stored.extents) {
      const part = stored.data.subarray(o, o + e.length);
      let done = 0;
      while (done < part.length) {
        const { bytesWritten } = await fh.write(part, done, part.length - done, Number(e.offset) + done);
        done += bytesWritten;
      }
      o += e.length;
    }
  } finally {
    await fh.close();
  }
  const got = await sha256File(tmp);
  if (got !== stored.sha256) {
    await rm(tmp, { force: true });
    throw new GoldenStorageError(`rebuilt ${path}: sha256 ${got} is not the recorded ${stored.sha256}`);
  }
  await rename(tmp, path);
}

/** Reads a blob file and rebuilds the golden at `path`. */
export async function rebuildFromBlob(blobPath: string, sha256: string, path: string): Promise<void> {
  const stored = decodeBlob(await readFile(blobPath), sha256);
  await rebuildFile(stored, path);
}

/** Writes the blob of a scanned file (content-addressed: identical files share one blob). */
export async function writeBlob(blobPath: string, f: StoredFile): Promise<number> {
  const gz = encodeBlob(f);
  await mkdir(dirname(blobPath), { recursive: true });
  await writeFile(blobPath, gz);
  return gz.length;
}

/** Offset of the first byte where two files differ (a size difference counts at the shorter end). */
export async function firstDifference(a: string, b: string): Promise<number | undefined> {
  const fa = await open(a, "r");
  const fb = await open(b, "r");
  try {
    const ba = new Uint8Array(SCAN_CHUNK);
    const bb = new Uint8Array(SCAN_CHUNK);
    for (let at = 0; ; at += SCAN_CHUNK) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, SCAN_CHUNK, at), fb.read(bb, 0, SCAN_CHUNK, at)]);
      const n = Math.min(ra.bytesRead, rb.bytesRead);
      for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) return at + i;
      if (ra.bytesRead !== rb.bytesRead) return at + n;
      if (n === 0) return undefined;
    }
  } finally {
    await fa.close();
    await fb.close();
  }
}
