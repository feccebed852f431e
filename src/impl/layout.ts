// migration/ram.c: mapped_ram_setup_ramblock — where a block's bitmap and page array go.
// All offsets are absolute file offsets; the 1 MiB rounding applies to the absolute position,
// so a `file:` offset N is not a uniform shift of the layout.
import { MAPPED_RAM_FILE_OFFSET_ALIGNMENT, MAPPED_RAM_HEADER_SIZE, TARGET_PAGE_SIZE_N } from "./constants.js";

export interface BlockRegions {
  /** where the 28-byte MappedRamHeader starts (the main channel position) */
  headerOffset: bigint;
  bitmapOffset: bigint;
  /** BITS_TO_LONGS(num_pages) * sizeof(long): whole 64-bit words */
  bitmapSize: bigint;
  pagesOffset: bigint;
  /** pages_offset + used_length: where the main stream resumes */
  end: bigint;
}

export function roundUp(v: bigint, align: bigint): bigint {
  return ((v + align - 1n) / align) * align;
}

/** Pages of a block (used_length >> TARGET_PAGE_BITS; a partial last page is not counted, as in QEMU). */
export function numPages(usedLength: bigint, pageSize: bigint = TARGET_PAGE_SIZE_N): bigint {
  return usedLength / pageSize;
}

export function bitmapSizeFor(pages: bigint): bigint {
  return ((pages + 63n) / 64n) * 8n;
}

export function blockRegions(
  headerOffset: bigint,
  usedLength: bigint,
  alignment: bigint = MAPPED_RAM_FILE_OFFSET_ALIGNMENT,
): BlockRegions {
  const bitmapOffset = headerOffset + BigInt(MAPPED_RAM_HEADER_SIZE);
  const bitmapSize = bitmapSizeFor(numPages(usedLength));
  const pagesOffset = roundUp(bitmapOffset + bitmapSize, alignment);
  return { headerOffset, bitmapOffset, bitmapSize, pagesOffset, end: pagesOffset + usedLength };
}
