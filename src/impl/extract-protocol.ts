// Jobs, replies and shared control words of `mrc extract`'s page copy (extract-copy.ts), run by its
// loader channels on worker threads (extract-worker.ts; migration/multifd.c: multifd_file_recv_data runs
// read_ramblock_mapped_ram per channel) or, for small files, by the calling thread.
import { MAPPED_RAM_LOAD_BUF_SIZE, TARGET_PAGE_SIZE } from "./constants.js";

/** Pages per chunk handed out: one MAPPED_RAM_LOAD_BUF_SIZE read at most. A multiple of 8. */
export const EXTRACT_CHUNK_PAGES = MAPPED_RAM_LOAD_BUF_SIZE / TARGET_PAGE_SIZE;
/** Int32 words of a job's shared control: the next chunk to take, and pages copied so far. */
export const EXTRACT_NEXT_CHUNK = 0;
export const EXTRACT_PAGES_DONE = 1;
export const EXTRACT_CONTROL_BYTES = 2 * Int32Array.BYTES_PER_ELEMENT;

/** One block to copy; every channel gets the same job and they share out its chunks. */
export interface ExtractJob {
  id: number;
  /** the migration file */
  source: string;
  /** the block file (already created) */
  output: string;
  /** absolute file offset of page 0 (a safe integer) */
  pagesOffset: number;
  numPages: number;
  /** the block's bitmap as in the file (bit i: byte i/8, bit i%8) */
  bitmap: SharedArrayBuffer;
  /** EXTRACT_CONTROL_BYTES */
  control: SharedArrayBuffer;
}

export type ExtractReply =
  /** `paused`: copyBlockPages was told to pause before taking another chunk */
  | { id: number; ok: true; paused?: true }
  /** a run read short: the file shrank after it was checked */
  | { id: number; ok: false; kind: "short"; page: number; from: number; got: number; want: number }
  | {
      id: number;
      ok: false;
      kind: "read" | "write" | "open";
      code: string;
      message: string;
      position: number;
    };
