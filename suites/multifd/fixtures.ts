// Shared RAM images for the packets-mode suites.
import { viewOf } from "../../src/impl/bytes.js";

/**
 * `pages` × 4 KiB: page p is zero when p ≡ 0 (mod 3), except runs that make whole zero and whole non-zero
 * batches; p ≡ 1 has its first 100 bytes = p mod 251 + 1; p ≡ 2 only its last byte 0xaa (a page that is
 * almost zero); every 7th page also carries its number (LE u64) at byte 8. Pages 256-383 are all zero,
 * pages 384-511 all 0x5a.
 */
export function patternImage(pages: number): Uint8Array {
  const img = new Uint8Array(pages * 4096);
  const view = viewOf(img);
  for (let p = 0; p < pages; p++) {
    const base = p * 4096;
    if (p >= 256 && p < 384) continue;
    if (p >= 384 && p < 512) {
      img.fill(0x5a, base, base + 4096);
      continue;
    }
    if (p % 3 === 0) continue;
    if (p % 3 === 1) img.fill((p % 251) + 1, base, base + 100);
    else img[base + 4095] = 0xaa;
    if (p % 7 === 0) view.setBigUint64(base + 8, BigInt(p), true);
  }
  return img;
}
