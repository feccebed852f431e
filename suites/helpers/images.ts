// Deterministic RAM images for the suites: every byte is a function of the pattern and page index.
// No randomness: the same parameters always give the same image.
import { writeFile } from "node:fs/promises";

export type ImagePattern = "spec8" | "allZero" | "noZero" | "lastByte" | "zeroRuns";

/**
 * - spec8: the pattern of the spec's section 8 (pages ≡0 mod 4 zero, ≡1 all 0x07, ≡2 last byte 0xaa,
 *   ≡3 first 8 bytes = page number LE; 1000–1099 zero; 1500–1599 all 0x55)
 * - allZero: every page zero
 * - noZero: no page zero (page number in the first 4 bytes, 0x5a elsewhere)
 * - lastByte: every page zero but its last byte = (page % 255) + 1, every 3rd page fully zero
 * - zeroRuns: alternating runs of 7 non-zero pages (0x11 * (page%15+1)) and 5 zero pages
 */
export function makeImage(pattern: ImagePattern, pages: number): Uint8Array {
  const img = new Uint8Array(pages * 4096);
  for (let i = 0; i < pages; i++) {
    const p = img.subarray(i * 4096, (i + 1) * 4096);
    switch (pattern) {
      case "spec8":
        if (i >= 1000 && i < 1100) break;
        if (i >= 1500 && i < 1600) p.fill(0x55);
        else if (i % 4 === 1) p.fill(0x07);
        else if (i % 4 === 2) p[4095] = 0xaa;
        else if (i % 4 === 3) new DataView(p.buffer, p.byteOffset, 8).setBigUint64(0, BigInt(i), true);
        break;
      case "allZero":
        break;
      case "noZero":
        p.fill(0x5a);
        new DataView(p.buffer, p.byteOffset, 4).setUint32(0, i, true);
        break;
      case "lastByte":
        if (i % 3 !== 0) p[4095] = (i % 255) + 1;
        break;
      case "zeroRuns":
        if (i % 12 < 7) p.fill(0x11 * ((i % 15) + 1));
        break;
    }
  }
  return img;
}

export async function writeImage(path: string, pattern: ImagePattern, pages: number): Promise<Uint8Array> {
  const img = makeImage(pattern, pages);
  await writeFile(path, img);
  return img;
}

/** Index of the first differing page, or -1 (a readable failure instead of a 8 MiB diff). */
export function firstDifferingPage(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let off = 0; off < a.length; off += 4096) {
    if (Buffer.compare(a.subarray(off, off + 4096), b.subarray(off, off + 4096)) !== 0) return off / 4096;
  }
  return -1;
}
