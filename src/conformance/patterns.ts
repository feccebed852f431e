// Deterministic RAM images and file prefixes for golden cases: every byte is a function of the
// pattern's parameters and the page index. No randomness: the same parameters give the same image.
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { ByteWriter, latin1, toSafeNumber, viewOf } from "../impl/bytes.js";

export const PAGE_SIZE = 4096;

/**
 * - `zero`: every page zero.
 * - `spec8`: mapped-ram-format.md section 8 (pages ≡0 mod 4 zero, ≡1 all 0x07, ≡2 only the last byte
 *   0xaa, ≡3 first 8 bytes = page number LE; pages 1000–1099 zero; 1500–1599 all 0x55).
 * - `fill`: every page all `byte`.
 * - `stripes`: page p is non-zero iff p mod `period` < `run`; it holds (p mod 251) + 1 with the page
 *   number LE in its first 8 bytes.
 * - `edges`: page 0 all 0x11, the middle page only its first byte 0x01, the last page only its last
 *   byte 0xee; everything else zero.
 */
export type PatternSpec =
  | { kind: "zero" }
  | { kind: "spec8" }
  | { kind: "fill"; byte: number }
  | { kind: "stripes"; period: number; run: number }
  | { kind: "edges" };

/** Whole pages set to one byte, applied in order after the pattern (a live save's guest writes). */
export interface PageWrite {
  firstPage: number;
  count: number;
  byte: number;
}

/** Fills `page` (4096 bytes, zeroed by the caller) with page `p` of `spec` over `numPages` pages. */
export function fillPage(spec: PatternSpec, p: number, numPages: number, page: Uint8Array): void {
  switch (spec.kind) {
    case "zero":
      return;
    case "spec8":
      if (p >= 1000 && p < 1100) return;
      if (p >= 1500 && p < 1600) page.fill(0x55);
      else if (p % 4 === 1) page.fill(0x07);
      else if (p % 4 === 2) page[PAGE_SIZE - 1] = 0xaa;
      else if (p % 4 === 3) viewOf(page).setBigUint64(0, BigInt(p), true);
      return;
    case "fill":
      page.fill(spec.byte);
      return;
    case "stripes":
      if (p % spec.period >= spec.run) return;
      page.fill((p % 251) + 1);
      viewOf(page).setBigUint64(0, BigInt(p), true);
      return;
    case "edges":
      if (p === 0) page.fill(0x11);
      else if (p === numPages - 1) page[PAGE_SIZE - 1] = 0xee;
      else if (p === Math.floor(numPages / 2)) page[0] = 0x01;
      return;
  }
}

function pageBytes(
  spec: PatternSpec,
  writes: readonly PageWrite[],
  p: number,
  numPages: number,
  into: Uint8Array,
) {
  into.fill(0);
  fillPage(spec, p, numPages, into);
  for (const w of writes) if (p >= w.firstPage && p < w.firstPage + w.count) into.fill(w.byte);
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function pagesOf(size: bigint): number {
  if (size <= 0n || size % BigInt(PAGE_SIZE) !== 0n)
    throw new RangeError(`image size ${size} is not whole pages`);
  return toSafeNumber(size / BigInt(PAGE_SIZE), "page count");
}

/** sha256 of the image (the block's RAM) and its number of non-zero pages, without writing it. */
export function imageDigest(
  size: bigint,
  spec: PatternSpec,
  writes: readonly PageWrite[] = [],
): { sha256: string; nonZeroPages: number } {
  const n = pagesOf(size);
  const hash = createHash("sha256");
  const page = new Uint8Array(PAGE_SIZE);
  let nonZeroPages = 0;
  for (let p = 0; p < n; p++) {
    pageBytes(spec, writes, p, n, page);
    if (!isZero(page)) nonZeroPages++;
    hash.update(page);
  }
  return { sha256: hash.digest("hex"), nonZeroPages };
}

/** Writes the image as a sparse file (zero pages are holes); returns its digest. */
export async function writeImage(
  path: string,
  size: bigint,
  spec: PatternSpec,
  writes: readonly PageWrite[] = [],
): Promise<{ sha256: string; nonZeroPages: number }> {
  const n = pagesOf(size);
  const fh = await open(path, constants.O_CREAT | constants.O_TRUNC | constants.O_RDWR, 0o600);
  try {
    await fh.truncate(toSafeNumber(size, "image size"));
    const page = new Uint8Array(PAGE_SIZE);
    for (let p = 0; p < n; p++) {
      pageBytes(spec, writes, p, n, page);
      if (!isZero(page)) await fh.write(page, 0, PAGE_SIZE, p * PAGE_SIZE);
    }
  } finally {
    await fh.close();
  }
  return imageDigest(size, spec, writes);
}

/**
 * A libvirt-like save-image prefix of exactly `length` bytes (libvirt-sparse.md 5.1): the 16-byte
 * magic `LibvirtQemudSave`, version 2, data_len, was_running 1, format 6 (sparse), cookieOffset (all
 * u32 little-endian, host order), 14 unused u32, then a domain XML + NUL, a cookie + NUL and zeros.
 */
export function libvirtPrefix(length: number): Uint8Array {
  const xml = latin1("<domain type='qemu'><name>mrc-golden</name><memory unit='KiB'>8192</memory></domain>");
  const cookie = latin1("<qemuMigration><slirpHelper/></qemuMigration>");
  const headerSize = 92;
  if (length < headerSize + xml.length + cookie.length + 2)
    throw new RangeError(`prefix ${length} is too short`);
  const dataLen = length - headerSize;
  const le32 = (v: number) => {
    const b = new Uint8Array(4);
    viewOf(b).setUint32(0, v, true);
    return b;
  };
  return new ByteWriter(length)
    .bytes(latin1("LibvirtQemudSave"))
    .bytes(le32(2))
    .bytes(le32(dataLen))
    .bytes(le32(1))
    .bytes(le32(6))
    .bytes(le32(xml.length + 1))
    .zeros(14 * 4)
    .bytes(xml)
    .u8(0)
    .bytes(cookie)
    .u8(0)
    .zeros(dataLen - xml.length - cookie.length - 2)
    .finish();
}
