// What the harness measures on a golden file when it records it: block layout (from the oracle's walk),
// set bits, RAM digests read straight from the bitmap and page array, and a prefix digest.
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { toSafeNumber } from "../../impl/bytes.js";
import { checkFile, openFileSource } from "../../oracle/index.js";
import type { ExpectedBlock } from "../model.js";
import { sha256File } from "../storage.js";

const PAGE = 4096;

export interface MeasuredBlock extends ExpectedBlock {
  /** the block has a bitmap and a page array (an 11.0-style ignored block has neither) */
  mapped: boolean;
}

const hx = (v: bigint) => `0x${v.toString(16)}`;

function popcountBelow(bitmap: Uint8Array, numPages: number): number {
  let n = 0;
  for (let i = 0; i < numPages; i++) if (((bitmap[i >>> 3] ?? 0) >>> (i & 7)) & 1) n++;
  return n;
}

async function readExact(path: string, offset: bigint, length: number): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const out = new Uint8Array(length);
    const { bytesRead } = await fh.read(out, 0, length, toSafeNumber(offset, "offset"));
    if (bytesRead !== length) throw new Error(`${path}: short read of ${length} bytes at ${hx(offset)}`);
    return out;
  } finally {
    await fh.close();
  }
}

/** The blocks of a golden as the oracle walks them, with their set-bit counts. */
export async function measureLayout(path: string, offset: bigint): Promise<MeasuredBlock[]> {
  const src = await openFileSource(path);
  try {
    const report = await checkFile(src, { offset, scanClearPages: false });
    const out: MeasuredBlock[] = [];
    for (const b of report.blocks) {
      const mapped = !(b.bitmapOffset === 0n && b.pagesOffset === 0n);
      const numPages = toSafeNumber(b.usedLength / BigInt(PAGE), "page count");
      let pagesPresent = 0;
      if (mapped) {
        const bitmap = await readExact(path, b.bitmapOffset, toSafeNumber(b.bitmapSize, "bitmap size"));
        pagesPresent = popcountBelow(bitmap, numPages);
      }
      out.push({
        idstr: b.idstr,
        usedLength: hx(b.usedLength),
        headerOffset: hx(b.headerOffset),
        bitmapOffset: hx(b.bitmapOffset),
        pagesOffset: hx(b.pagesOffset),
        pagesPresent,
        mapped,
      });
    }
    return out;
  } finally {
    await src.close();
  }
}

/** sha256 of a block's RAM as a loader rebuilds it: set-bit pages from the page array, others zero. */
export async function blockDigestFromFile(path: string, b: MeasuredBlock): Promise<string> {
  const numPages = toSafeNumber(BigInt(b.usedLength) / BigInt(PAGE), "page count");
  const bitmap = await readExact(path, BigInt(b.bitmapOffset), Math.ceil(numPages / 64) * 8);
  const hash = createHash("sha256");
  const zero = new Uint8Array(PAGE);
  const fh = await open(path, "r");
  try {
    const page = new Uint8Array(PAGE);
    for (let i = 0; i < numPages; i++) {
      if (((bitmap[i >>> 3] ?? 0) >>> (i & 7)) & 1) {
        const at = toSafeNumber(BigInt(b.pagesOffset) + BigInt(i * PAGE), "offset");
        const { bytesRead } = await fh.read(page, 0, PAGE, at);
        if (bytesRead !== PAGE) throw new Error(`${path}: page ${i} of "${b.idstr}" is past the end`);
        hash.update(page);
      } else {
        hash.update(zero);
      }
    }
  } finally {
    await fh.close();
  }
  return hash.digest("hex");
}

/** sha256 of the first `end` bytes of a file. */
export function prefixDigest(path: string, end: bigint): Promise<string> {
  return sha256File(path, end);
}

/** An empty RAM SECTION_PART: 02, be32 id, be64 RAM_SAVE_FLAG_EOS, footer 7e, be32 id (18 bytes). */
function isEmptyPart(b: Uint8Array): boolean {
  if (b.length < 18 || b[0] !== 0x02 || b[13] !== 0x7e) return false;
  for (let i = 5; i < 12; i++) if (b[i] !== 0) return false;
  if (b[12] !== 0x10) return false;
  for (let i = 0; i < 4; i++) if (b[1 + i] !== b[14 + i]) return false;
  return true;
}

/**
 * sha256 of a file with the empty SECTION_PART records after the setup EOS removed, and how many there
 * were. Their number is the one thing that varies between QEMU saves of a stopped VM (spec 2.8):
 * `resume` is where the stream continues after the last block's page array (setup EOS + footer follow).
 */
export async function canonicalDigest(
  path: string,
  resume: bigint,
): Promise<{ sha256: string; parts: number }> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat({ bigint: true })).size;
    const keepUntil = resume + 13n;
    if (keepUntil > size) return { sha256: await prefixDigest(path, size), parts: 0 };
    let at = keepUntil;
    let parts = 0;
    const rec = new Uint8Array(18);
    for (;;) {
      const { bytesRead } = await fh.read(rec, 0, 18, toSafeNumber(at, "offset"));
      if (bytesRead < 18 || !isEmptyPart(rec)) break;
      at += 18n;
      parts++;
    }
    const hash = createHash("sha256");
    const buf = new Uint8Array(1 << 20);
    const ranges: [bigint, bigint][] = [
      [0n, keepUntil],
      [at, size],
    ];
    for (const [from, to] of ranges) {
      for (let p = from; p < to; ) {
        const want = Number(to - p < BigInt(buf.length) ? to - p : BigInt(buf.length));
        const { bytesRead } = await fh.read(buf, 0, want, toSafeNumber(p, "offset"));
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        p += BigInt(bytesRead);
      }
    }
    return { sha256: hash.digest("hex"), parts };
  } finally {
    await fh.close();
  }
}
