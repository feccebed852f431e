// One multifd file channel on a worker thread: multifd_nocomp_send_prepare (zero-page detection,
// file bitmap updates) and file_write_ramblock_iov (one pwritev per run of contiguous pages).
import { closeSync, constants, openSync, writevSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import type { ChannelInit, ChannelJob, ChannelReply } from "./channel-protocol.js";
import { TARGET_PAGE_SIZE } from "./constants.js";
import { isZeroPage } from "./zero-page.js";

const init = workerData as ChannelInit;
const fd = openSync(init.path, constants.O_WRONLY);
const port = parentPort;
if (!port) throw new Error("channel-worker must run on a worker thread");

/** pwritev all of `bufs` at `position`, finishing short writes. */
function pwritevAll(bufs: Uint8Array[], position: number): void {
  let pos = position;
  let list = bufs;
  while (list.length > 0) {
    let n = writevSync(fd, list, pos);
    if (n === 0) throw new Error("pwritev wrote 0 bytes");
    pos += n;
    const rest: Uint8Array[] = [];
    for (const b of list) {
      if (n >= b.length) n -= b.length;
      else {
        rest.push(n > 0 ? b.subarray(n) : b);
        n = 0;
      }
    }
    list = rest;
  }
}

/** Linux IOV_MAX */
const IOV_MAX = 1024;

port.on("message", (job: ChannelJob | "close") => {
  if (job === "close") {
    closeSync(fd);
    port.close();
    return;
  }
  const bitmap = new Uint8Array(job.bitmap);
  const data = new Uint8Array(job.data);
  const base = Number(job.pagesOffset);
  let writes = 0;
  let written = 0;
  let runStart = -1;
  let run: Uint8Array[] = [];
  let position = base;
  const flush = () => {
    if (run.length === 0) return;
    position = base + runStart * TARGET_PAGE_SIZE;
    pwritevAll(run, position);
    writes++;
    run = [];
  };
  try {
    for (let i = 0; i < job.pages.length; i++) {
      const page = job.pages[i] as number;
      const bytes = data.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE);
      if (!job.normalOnly && job.zeroPageDetection === "multifd" && isZeroPage(bytes)) {
        Atomics.and(bitmap, page >>> 3, ~(1 << (page & 7)) & 0xff);
        continue;
      }
      Atomics.or(bitmap, page >>> 3, 1 << (page & 7));
      written++;
      if (run.length > 0 && run.length < IOV_MAX && page === runStart + run.length) run.push(bytes);
      else {
        flush();
        runStart = page;
        run = [bytes];
      }
    }
    flush();
    const reply: ChannelReply = { id: job.id, ok: true, pagesWritten: written, writes };
    port.postMessage(reply);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reply: ChannelReply = {
      id: job.id,
      ok: false,
      code: err.code ?? "EIO",
      message: err.message,
      position: String(position),
    };
    port.postMessage(reply);
  }
});
