// One loader channel of `mrc extract` on a worker thread (migration/ram.c: read_ramblock_mapped_ram,
// as each multifd channel runs it in multifd_file_recv_data): takes chunks of a block's pages from a
// shared counter, reads every run of set bits in the chunk with one positional read and writes it at
// the page's place in the block file. Clear-bit pages are never read. Own descriptors on both files.
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { MAPPED_RAM_LOAD_BUF_SIZE, TARGET_PAGE_SIZE } from "./constants.js";
import {
  EXTRACT_CHUNK_PAGES,
  EXTRACT_NEXT_CHUNK,
  EXTRACT_PAGES_DONE,
  type ExtractJob,
  type ExtractReply,
} from "./extract-protocol.js";

const port = parentPort;
if (!port) throw new Error("extract-worker must run on a worker thread");
const buf = new Uint8Array(MAPPED_RAM_LOAD_BUF_SIZE);

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

function copyBlock(job: ExtractJob, src: number, out: number): ExtractReply {
  const bits = new Uint8Array(job.bitmap);
  const ctl = new Int32Array(job.control);
  const isSet = (p: number) => (((bits[p >>> 3] as number) >>> (p & 7)) & 1) === 1;
  for (;;) {
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

port.on("message", (job: ExtractJob | "close") => {
  if (job === "close") {
    port.close();
    return;
  }
  let src: number | undefined;
  let out: number | undefined;
  let reply: ExtractReply;
  try {
    src = openSync(job.source, "r");
    out = openSync(job.output, constants.O_WRONLY);
    reply = copyBlock(job, src, out);
  } catch (e) {
    reply = ioFailure(job, "open", e, 0);
  } finally {
    if (src !== undefined) closeSync(src);
    if (out !== undefined) closeSync(out);
  }
  port.postMessage(reply);
});
