// Shared memory between the migration flow and a file channel on a worker thread
// (migration/multifd.c: multifd_send / multifd_send_thread; file.c: file_write_ramblock_iov).
// Each channel owns SLOTS_PER_CHANNEL page slots; a slot holds one batch of up to
// MULTIFD_PAGES_PER_PACKET pages and its control words. The flow fills a free slot and rings the
// doorbell; the channel (reading the pages from the block's RAM image first when the slot says so)
// writes it and marks it done. No message is sent per batch and no buffer is
// allocated or transferred per batch, so memory stays fixed whatever the RAM size.
import { MULTIFD_PAGES_PER_PACKET, TARGET_PAGE_SIZE } from "./constants.js";

/** The flow fills or queues slots while the channel writes others; four absorb the hand-off latency. */
export const SLOTS_PER_CHANNEL = 4;
export const SLOT_PAGES = MULTIFD_PAGES_PER_PACKET;
export const SLOT_BYTES = SLOT_PAGES * TARGET_PAGE_SIZE;
/** Bytes of error text a channel can report for a slot. */
export const SLOT_ERROR_BYTES = 1024;

/** Control words (Int32) before the slots. */
export const CTL_CLOSE = 0;
/** Incremented by the flow after every change the channel must see (a queued slot, close). */
export const CTL_DOORBELL = 1;
const CTL_HEADER = 4;

/** Control words of one slot, relative to slotBase(slot). */
export const SLOT_STATE = 0;
export const SLOT_NPAGES = 1;
/** 1: the channel detects zero pages (multifd_send_zero_page_detect); 0: every page is normal */
export const SLOT_DETECT_ZERO = 2;
/** the block, as registered with a "block" message */
export const SLOT_BLOCK = 3;
/** pages_offset as two unsigned 32-bit halves (a safe integer) */
export const SLOT_OFFSET_LO = 4;
export const SLOT_OFFSET_HI = 5;
/* words 6 and 7 are unused */
/**
 * 1: the slot names SLOT_NPAGES consecutive pages from SLOT_FIRST_PAGE (any number: no page list), which
 * the channel reads from the block's RAM image (page i at i × 4096) one slot's worth at a time;
 * 0: the slot's data and page list are in place.
 */
export const SLOT_READ_IMAGE = 9;
export const SLOT_FIRST_PAGE = 10;
/** the multifd channel whose batch the slot holds (a thread may carry several channels), for errors */
export const SLOT_CHANNEL = 11;
/** length of the error text (UTF-8: `code\nposition\nmessage`, code empty when the error has none) when FAILED */
export const SLOT_ERROR_LENGTH = 8;
/** page indexes within the block, ascending */
export const SLOT_PAGE_LIST = 16;
const SLOT_WORDS = SLOT_PAGE_LIST + SLOT_PAGES;

export const STATE_FREE = 0;
export const STATE_QUEUED = 1;
export const STATE_DONE = 2;
export const STATE_FAILED = 3;

export function slotBase(slot: number): number {
  return CTL_HEADER + slot * SLOT_WORDS;
}

export const CONTROL_BYTES = (CTL_HEADER + SLOTS_PER_CHANNEL * SLOT_WORDS) * Int32Array.BYTES_PER_ELEMENT;

export interface ChannelInit {
  /** the output path; the channel opens its own O_WRONLY descriptor, as file_send_channel_create does */
  path: string;
  /** the I/O thread's number (for its name) */
  thread: number;
  /** CONTROL_BYTES of control words */
  control: SharedArrayBuffer;
  /** SLOTS_PER_CHANNEL × SLOT_BYTES of page data */
  data: SharedArrayBuffer;
  /** SLOTS_PER_CHANNEL × SLOT_ERROR_BYTES of error text */
  errors: SharedArrayBuffer;
  /** the output's write lock (write-lock.ts), shared by every thread writing it */
  writeLock?: SharedArrayBuffer;
}

/** Sent once per block and channel before the first slot naming it: the block's shared file_bmap. */
export interface BlockMessage {
  kind: "block";
  id: number;
  bitmap: SharedArrayBuffer;
  /** the block's RAM image file, for slots that ask the channel to read their pages */
  image?: string;
  /** where page 0 lies in `image` (default 0: a RAM image; a migration file's page array for reencode) */
  imageOffset?: number;
}

/** Prefixed to the error code of a failed RAM image read (the position is then an image offset). */
export const IMAGE_ERROR_PREFIX = "image:";
/** The error code (after the prefix) when the RAM image ends before a slot's pages. */
export const SHORT_IMAGE_CODE = "MRC_SHORT_IMAGE";
