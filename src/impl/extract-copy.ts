// The copy of one block's set-bit pages (migration/ram.c: read_ramblock_mapped_ram, as each multifd
// channel runs it in multifd_file_recv_data): take chunks of the block's pages from a shared counter and
// copy every run of set bits in a chunk to the page's place in the block file, with one positional read
// and one positional write per run. Clear-bit pages are never read. With the native helper
// (native-io.ts), copyBlockPagesOnThreads runs that loop in C on the helper's own threads, which start
// in microseconds. Without it, copyBlockPages runs it in JS, synchronously: the loader threads run it
// (extract-worker.ts), and so does the calling thread (beside them, or alone for a file too small to
// be worth starting them).
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import { PageBitmap } from "./bitmap.js";
import { MAPPED_RAM_LOAD_BUF_SIZE, TARGET_PAGE_SIZE } from "./constants.js";
import {
  EXTRACT_CHUNK_PAGES,
  EXTRACT_NEXT_CHUNK,
  EXTRACT_PAGES_DONE,
  type ExtractJob,
  type ExtractReply,
} from "./extract-protocol.js";
import { COPY_OK, COPY_READ_FAILED, COPY_SOURCE_SHORT, errnoText, type NativeIo } from "./native-io.js";

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

/** Runs of one chunk at most: every other page set. */
const MAX_CHUNK_RUNS = EXTRACT_CHUNK_PAGES / 2;
const runs = new Int32Array(2 * MAX_CHUNK_RUNS);

/**
 * Copies runs[0, n) of `job` with a pread and a pwrite each through `buf`, counting the pages in `ctl`
 * (the job's control); a failure comes back.
 */
function copyRuns(
  job: ExtractJob,
  ctl: Int32Array,
  src: number,
  out: number,
  buf: Uint8Array,
  n: number,
): ExtractReply | null {
  for (let r = 0; r < n; r++) {
    const p = runs[2 * r] as number;
    const q = runs[2 * r + 1] as number;
    const want = (q - p) * TARGET_PAGE_SIZE;
    const from = job.pagesOffset + p * TARGET_PAGE_SIZE;
    let got = 0;
    try {
      while (got < want) {
        const k = readSync(src, buf, got, want - got, from + got);
        if (k === 0) break;
        got += k;
      }
    } catch (e) {
      return ioFailure(job, "read", e, from + got);
    }
    if (got !== want) return { id: job.id, ok: false, kind: "short", page: p, from, got, want };
    let put = 0;
    try {
      while (put < want) {
        const k = writeSync(out, buf, put, want - put, p * TARGET_PAGE_SIZE + put);
        if (k === 0) throw new Error("write returned 0 bytes");
        put += k;
      }
    } catch (e) {
      return ioFailure(job, "write", e, p * TARGET_PAGE_SIZE + put);
    }
    Atomics.add(ctl, EXTRACT_PAGES_DONE, q - p);
  }
  return null;
}

/**
 * Runs `job` on `threads` threads of the native helper (copyPages), off the JS thread: each takes chunks
 * from the job's control as the loader channels do, so control's page count is the progress. Opens its
 * own descriptors on both files; failures come back as replies.
 */
export async function copyBlockPagesOnThreads(
  job: ExtractJob,
  threads: number,
  io: NativeIo,
): Promise<ExtractReply> {
  let src: number | undefined;
  let out: number | undefined;
  try {
    src = openSync(job.source, "r");
    out = openSync(job.output, constants.O_WRONLY);
  } catch (e) {
    if (src !== undefined) closeSync(src);
    return ioFailure(job, "open", e, 0);
  }
  const result = new Float64Array(5);
  try {
    const status = await new Promise<number>((done) =>
      io.copyPages(
        src as number,
        out as number,
        new Uint8Array(job.bitmap),
        job.numPages,
        job.pagesOffset,
        TARGET_PAGE_SIZE,
        EXTRACT_CHUNK_PAGES,
        threads,
        new Int32Array(job.control),
        result,
        done,
      ),
    );
    if (status === COPY_OK) return { id: job.id, ok: true };
    if (status < 0) {
      // napi could not run the work at all: nothing was copied
      return {
        id: job.id,
        ok: false,
        kind: "open",
        code: "EIO",
        message: "the native copy did not run",
        position: 0,
      };
    }
    // where it stopped: [status, first page of the failed run, errno, offset or bytes there, run bytes]
    const page = result[1] as number;
    const at = result[3] as number;
    if (status === COPY_SOURCE_SHORT) {
      const from = job.pagesOffset + page * TARGET_PAGE_SIZE;
      return { id: job.id, ok: false, kind: "short", page, from, got: at, want: result[4] as number };
    }
    const kind = status === COPY_READ_FAILED ? "read" : "write";
    return { id: job.id, ok: false, kind, ...errnoText(result[2] as number, kind), position: at };
  } finally {
    closeSync(src);
    closeSync(out);
  }
}

function copyChunks(
  job: ExtractJob,
  src: number,
  out: number,
  buf: Uint8Array,
  pause: (() => boolean) | undefined,
): ExtractReply {
  const bitmap = new PageBitmap(job.numPages, new Uint8Array(job.bitmap));
  const ctl = new Int32Array(job.control);
  for (;;) {
    if (pause?.()) return { id: job.id, ok: true, paused: true };
    const first = Atomics.add(ctl, EXTRACT_NEXT_CHUNK, 1) * EXTRACT_CHUNK_PAGES;
    if (first >= job.numPages) return { id: job.id, ok: true };
    const n = bitmap.setRunsIn(first, Math.min(first + EXTRACT_CHUNK_PAGES, job.numPages), runs);
    const failed = copyRuns(job, ctl, src, out, buf, n);
    if (failed) return failed;
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
