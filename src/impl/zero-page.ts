// migration/ram.c: save_zero_page / buffer_is_zero — a page of all zero bytes is not written.
import { TARGET_PAGE_SIZE } from "./constants.js";

const ZERO_PAGE = Buffer.alloc(TARGET_PAGE_SIZE);

/** True when the 4096 bytes of `page` are all zero (native memcmp against a zero page). */
export function isZeroPage(page: Uint8Array): boolean {
  return Buffer.compare(page, ZERO_PAGE) === 0;
}

export type ZeroPageDetection = "none" | "legacy" | "multifd";
export const ZERO_PAGE_DETECTION_MODES: readonly ZeroPageDetection[] = ["none", "legacy", "multifd"];
