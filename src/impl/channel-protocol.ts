// Messages between the migration flow and a multifd file channel running on a worker thread
// (migration/multifd.c: multifd_send_thread; file.c: file_write_ramblock_iov).
import type { ZeroPageDetection } from "./zero-page.js";

export interface ChannelInit {
  /** the output path; the channel opens its own O_WRONLY descriptor, as file_send_channel_create does */
  path: string;
  channel: number;
}

/** A batch of up to 128 pages of one block (multifd_queue_page). */
export interface ChannelJob {
  id: number;
  /** block's pages_offset */
  pagesOffset: bigint;
  /** the block's file_bmap, shared with the migration flow */
  bitmap: SharedArrayBuffer;
  /** page indexes within the block, ascending */
  pages: Int32Array;
  /** pages.length × 4096 bytes, transferred */
  data: ArrayBuffer;
  /** the migration flow already did zero detection (legacy, or multifd off): every page is normal */
  normalOnly: boolean;
  zeroPageDetection: ZeroPageDetection;
}

export type ChannelReply =
  | { id: number; ok: true; pagesWritten: number; writes: number }
  | { id: number; ok: false; code: string; message: string; position: string };
