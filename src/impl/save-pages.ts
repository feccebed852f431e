// The bulk pass of one block of a save on the native helper's threads (native/mrc-io.c: savePages):
// migration/multifd.c's file channels each running multifd_nocomp_send_prepare (zero-page detection,
// file bitmap updates) and file_write_ramblock_iov (one positional write per run of pages) on batches of
// the RAM image, which they read through a read-only mapping as QEMU reads guest RAM. The threads take
// chunks of the block from a shared counter and start in microseconds (a Node worker thread takes tens
// of ms); the JS thread only waits, reading the shared page count for progress. Failures come back as
// data: which chunk, and what went wrong where.
import { closeSync, constants, openSync } from "node:fs";
import { TARGET_PAGE_SIZE } from "./constants.js";
import { COPY_OK, COPY_READ_FAILED, COPY_SOURCE_SHORT, errnoText, type NativeIo } from "./native-io.js";

/** One block's bulk pass. */
export interface BlockSaveJob {
  /** the RAM image file, and where its page 0 lies in it */
  image: string;
  imageOffset: number;
  /** the output file (its pages go to pagesOffset + page × 4096) */
  output: string;
  pagesOffset: number;
  /** find zero pages (their bits cleared, not written); false: every page is written */
  detect: boolean;
  /** the block's bitmap, shared with the threads (bit p: byte p / 8, bit p % 8) */
  bitmap: Uint8Array;
  /** the pages to save: [first, end) pairs, ascending */
  ranges: Float64Array;
  /** pages per chunk handed out */
  chunkPages: number;
  threads: number;
}

/**
 * Where a bulk pass failed: `chunk` is the index of the failed chunk among those of the job (its
 * ranges cut into chunkPages pieces, in order). `image` failures are at an image offset from the block's
 * page 0 (`short`: the image ends there), `write` failures at an output offset.
 */
export interface BlockSaveFailure {
  kind: "image-read" | "image-short" | "write";
  chunk: number;
  code: string;
  message: string;
  position: number;
}

/** The job's ranges cut into chunks: [first page, pages] pairs, in order. */
export function blockSaveChunks(ranges: Float64Array, chunkPages: number): Float64Array {
  let count = 0;
  for (let r = 0; r < ranges.length; r += 2) {
    count += Math.ceil(((ranges[r + 1] as number) - (ranges[r] as number)) / chunkPages);
  }
  const chunks = new Float64Array(2 * count);
  let k = 0;
  for (let r = 0; r < ranges.length; r += 2) {
    const end = ranges[r + 1] as number;
    for (let first = ranges[r] as number; first < end; first += chunkPages) {
      chunks[k++] = first;
      chunks[k++] = Math.min(chunkPages, end - first);
    }
  }
  return chunks;
}

/**
 * Runs `job` on the helper's threads, each with the job's two descriptors (opened here, closed after).
 * `onPages` gets the pages done so far every `PROGRESS_MS` while they run. Resolves with the job's chunk
 * count and its failure, if any.
 */
export async function saveBlockPagesOnThreads(
  job: BlockSaveJob,
  io: NativeIo,
  onPages?: (pages: number) => void,
): Promise<{ chunks: number; failure?: BlockSaveFailure }> {
  const chunks = blockSaveChunks(job.ranges, job.chunkPages);
  const count = chunks.length / 2;
  if (count === 0) return { chunks: 0 };
  let image: number | undefined;
  let out: number | undefined;
  try {
    image = openSync(job.image, constants.O_RDONLY);
  } catch (e) {
    return { chunks: count, failure: openFailure("image-read", e, (chunks[0] as number) * TARGET_PAGE_SIZE) };
  }
  try {
    out = openSync(job.output, constants.O_WRONLY);
  } catch (e) {
    closeSync(image);
    return { chunks: count, failure: openFailure("write", e, job.pagesOffset) };
  }
  const control = new Int32Array(2);
  const result = new Float64Array(4);
  const timer = onPages ? setInterval(() => onPages(Atomics.load(control, 1)), PROGRESS_MS) : undefined;
  try {
    const status = await new Promise<number>((done) =>
      io.savePages(
        image as number,
        job.imageOffset,
        out as number,
        job.pagesOffset,
        TARGET_PAGE_SIZE,
        job.detect ? 1 : 0,
        job.bitmap,
        chunks,
        job.threads,
        control,
        result,
        done,
      ),
    );
    if (status === COPY_OK) return { chunks: count };
    if (status < 0) {
      // napi could not run the work at all: nothing was written
      const failure: BlockSaveFailure = {
        kind: "write",
        chunk: 0,
        code: "EIO",
        message: "the native save did not run",
        position: job.pagesOffset,
      };
      return { chunks: count, failure };
    }
    // [status, the failed chunk, errno, offset]
    const chunk = result[1] as number;
    const position = result[3] as number;
    if (status === COPY_SOURCE_SHORT) {
      return { chunks: count, failure: { kind: "image-short", chunk, code: "", message: "", position } };
    }
    const read = status === COPY_READ_FAILED;
    const text = errnoText(result[2] as number, read ? "read" : "write");
    return { chunks: count, failure: { kind: read ? "image-read" : "write", chunk, ...text, position } };
  } finally {
    clearInterval(timer);
    closeSync(image);
    closeSync(out);
  }
}

/** How often the pages done are reported while the threads run. */
const PROGRESS_MS = 100;

function openFailure(kind: "image-read" | "write", e: unknown, position: number): BlockSaveFailure {
  const err = e as NodeJS.ErrnoException;
  return { kind, chunk: 0, code: err.code ?? "EIO", message: err.message ?? String(e), position };
}
