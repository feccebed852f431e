// The copy of one block's set-bit pages (migration/ram.c: read_ramblock_mapped_ram, as each multifd
// channel runs it in multifd_file_recv_data): take chunks of the block's pages from a shared counter,
// read every run of set bits in a chunk with one positional read and write it at the page's place in
// the block file. Clear-bit pages are never read. Synchronous: the loader threads run it
// (extract-worker.ts), and so does the calling thread for a file too small to be worth starting them.
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import { MAPPED_RAM_LOAD_BUF_SIZE, TARGET_PAGE_SIZE } from "./constants.js";
import {
  EXTRACT_CHUNK_PAGES,
  EXTRACT_NEXT_CHUNK,
  EXTRACT_PAGES_DONE,
  type ExtractJob,
  type ExtractReply,
} from "./extract-protocol.js";

/** The reply for a failed read, write or open of `job`'s files at `position`. */
function ioFailure(
  job: ExtractJob,
  kind: "read" | "write" | "open",
  e: unknown,
  position: number,
): ExtractReply {
  const err = e as NodeJS.ErrnoException;
  return { id: job.id, ok: false, kind, code: err.code ?? "EIO", message: err.message, position };
}

function copyChunks(
  job: ExtractJob,
  src: number,
  out: number,
  buf: Uint8Array,
  pause: (() => boolean) | undefined,
): ExtractReply {
  const bits = new Uint8Array(job.bitmap);
  const ctl = new Int32Array(job.control);
  const isSet = (p: number) => (((bits[p >>> 3] as number) >>> (p & 7)) & 1) === 1;
  for (;;) {
    if (pause?.()) return { id: job.id, ok: true, paused: true };
    const first = Atomics.add(ctl, EXTRACT_NEXT_CHUNK, 1) * EXTRACT_CHUNK_PAGES;
    if (first >= job.numPages) return { id: job.id, ok: true };
    const end = Math.min(first + EXTRACT_CHUNK_PAGES, job.numPages);
    let p = first;
    while (p < end) {
      if ((p & 7) === 0 && p + 8 <= end && bits[p >>> 3] === 0) {
        p += 8;
        continue;
      }
      if (!isSet(p)) {
        p++;
        continue;
      }
      let q = p + 1;
      while (q < end && isSet(q)) q++;
      const want = (q - p) * TARGET_PAGE_SIZE;
      const from = job.pagesOffset + p * TARGET_PAGE_SIZE;
      let got = 0;
      try {
        while (got < want) {
          const n = readSync(src, buf, got, want - got, from + got);
          if (n === 0) break;
          got += n;
        }
      } catch (e) {
        return ioFailure(job, "read", e, from + got);
      }
      if (got !== want) return { id: job.id, ok: false, kind: "short", page: p, from, got, want };
      let put = 0;
      try {
        while (put < want) {
          const n = writeSync(out, buf, put, want - put, p * TARGET_PAGE_SIZE + put);
          if (n === 0) throw new Error("write returned 0 bytes");
          put += n;
        }
      } catch (e) {
        return ioFailure(job, "write", e, p * TARGET_PAGE_SIZE + put);
      }
      Atomics.add(ctl, EXTRACT_PAGES_DONE, q - p);
      p = q;
    }
  }
}

/** Chunks of a job: the shared counter at or past this has nothing left to hand out. */
function chunkCount(job: ExtractJob): number {
  return Math.ceil(job.numPages / EXTRACT_CHUNK_PAGES);
}

/**
 * Runs `job` on this thread with its own descriptors on both files; `buf` is a
 * MAPPED_RAM_LOAD_BUF_SIZE buffer. Failures come back as replies, never as exceptions, and leave no
 * chunk for the job's other channels (they stop after their current one). `pause` is asked before each
 * chunk is taken: when it says so, the reply is `paused` and a later call goes on.
 */
export function copyBlockPages(job: ExtractJob, buf: Uint8Array, pause?: () => boolean): ExtractReply {
  const r = copyWithOwnDescriptors(job, buf, pause);
  if (!r.ok) Atomics.store(new Int32Array(job.control), EXTRACT_NEXT_CHUNK, chunkCount(job));
  return r;
}

function copyWithOwnDescriptors(
  job: ExtractJob,
  buf: Uint8Array,
  pause: (() => boolean) | undefined,
): ExtractReply {
  let src: number | undefined;
  let out: number | undefined;
  try {
    src = openSync(job.source, "r");
    out = openSync(job.output, constants.O_WRONLY);
    return copyChunks(job, src, out, buf, pause);
  } catch (e) {
    return ioFailure(job, "open", e, 0);
  } finally {
    if (src !== undefined) closeSync(src);
    if (out !== undefined) closeSync(out);
  }
}

/** A buffer for copyBlockPages: one chunk's bytes. */
export function newCopyBuffer(): Uint8Array {
  return new Uint8Array(MAPPED_RAM_LOAD_BUF_SIZE);
}
