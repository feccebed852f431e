// migration/ram.c: ram_save_target_page / save_zero_page / save_normal_page (mapped-ram alone) and
// migration/multifd*.c + file.c (mapped-ram + multifd): pages go to pages_offset + index*4096 with
// positional writes; zero pages are not written and their bit is cleared; the bitmap is shared.
import { Worker } from "node:worker_threads";
import type { PageBitmap } from "./bitmap.js";
import type { ChannelInit, ChannelJob, ChannelReply } from "./channel-protocol.js";
import { TARGET_PAGE_SIZE, TARGET_PAGE_SIZE_N } from "./constants.js";
import { MappedRamError } from "./errors.js";
import type { OutputFile } from "./output.js";
import { isZeroPage, type ZeroPageDetection } from "./zero-page.js";

/** Where one block's pages go and which bitmap records them. */
export interface BlockTarget {
  idstr: string;
  pagesOffset: bigint;
  bitmap: PageBitmap;
}

/** Up to MULTIFD_PAGES_PER_PACKET pages of one block (multifd_queue_page batches). */
export interface PageBatch {
  block: BlockTarget;
  /** page indexes within the block, ascending */
  pages: number[];
  /** pages.length × 4096 bytes, page i at i*4096; owned by the batch (it may be transferred) */
  buf: Uint8Array;
}

function pageOf(batch: PageBatch, i: number): Uint8Array {
  return batch.buf.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE);
}

/**
 * The main channel writing pages itself (mapped-ram without multifd): zero detection in the main flow,
 * bits set/cleared, runs of consecutive normal pages written with one positional write each.
 */
async function writeBatchOnMain(out: OutputFile, batch: PageBatch, zpd: ZeroPageDetection): Promise<void> {
  const { block } = batch;
  let runStart = -1;
  let runLen = 0;
  const flush = async () => {
    if (runLen === 0) return;
    const first = batch.pages.indexOf(runStart);
    await out.writeAt(
      batch.buf.subarray(first * TARGET_PAGE_SIZE, (first + runLen) * TARGET_PAGE_SIZE),
      block.pagesOffset + BigInt(runStart) * TARGET_PAGE_SIZE_N,
    );
    runLen = 0;
  };
  for (let i = 0; i < batch.pages.length; i++) {
    const page = batch.pages[i] as number;
    if (zpd !== "none" && isZeroPage(pageOf(batch, i))) {
      block.bitmap.clear(page);
      await flush();
      continue;
    }
    block.bitmap.set(page);
    if (runLen > 0 && page === runStart + runLen && batch.pages[i - 1] === page - 1) runLen++;
    else {
      await flush();
      runStart = page;
      runLen = 1;
    }
  }
  await flush();
}

/** Resolves the compiled worker: next to this module in dist/, or dist/'s copy when run from sources. */
function channelWorkerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith(".ts")) return new URL("../../dist/impl/channel-worker.js", here);
  return new URL("./channel-worker.js", here);
}

/** A multifd file channel on its own worker thread with its own descriptor. */
class WorkerChannel {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, (r: ChannelReply | Error) => void>();
  private nextId = 0;
  private dead: Error | undefined;

  constructor(path: string, channel: number) {
    const init: ChannelInit = { path, channel };
    this.worker = new Worker(channelWorkerUrl(), { workerData: init });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const w of this.waiting.values()) w(e);
      this.waiting.clear();
    };
    this.worker.on("message", (r: ChannelReply) => {
      const w = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      w?.(r);
    });
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`multifd channel ${channel} exited (code ${code})`)));
  }

  run(job: Omit<ChannelJob, "id">): Promise<ChannelReply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const full: ChannelJob = { ...job, id };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
      this.worker.postMessage(full, [job.data]);
    });
  }

  async close(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.postMessage("close");
    await exited;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * The page sender. Without multifd the main channel writes (zero detection in the main flow). With
 * multifd, N channels on worker threads — each with its own descriptor on the output — take batches
 * from the next idle channel (multifd_send); zero detection runs in the channel (`multifd`) or in the
 * main flow (`legacy`), and `none` writes every page. At most one batch is in flight per channel.
 */
export class PageSender {
  private readonly workers: WorkerChannel[] = [];
  private readonly inflight: Array<Promise<void> | undefined> = [];
  private next = 0;
  private failure: unknown;

  private constructor(
    private readonly main: OutputFile,
    private readonly zpd: ZeroPageDetection,
  ) {}

  static async start(main: OutputFile, zpd: ZeroPageDetection, channels: number | null): Promise<PageSender> {
    const s = new PageSender(main, zpd);
    for (let i = 0; i < (channels ?? 0); i++) {
      s.workers.push(new WorkerChannel(main.path, i));
      s.inflight.push(undefined);
    }
    return s;
  }

  get multifd(): boolean {
    return this.workers.length > 0;
  }

  /** Queue a batch of pages of one block. Resolves when a channel has taken it. */
  async send(batch: PageBatch): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (!this.multifd) {
      await writeBatchOnMain(this.main, batch, this.zpd);
      return;
    }
    let b = batch;
    if (this.zpd === "legacy") {
      // ram.c: save_zero_page in the migration thread; only normal pages are queued.
      b = this.dropZeroPages(batch);
      if (b.pages.length === 0) return;
    }
    const i = this.next;
    this.next = (this.next + 1) % this.workers.length;
    const busy = this.inflight[i];
    if (busy) await busy;
    if (this.failure !== undefined) throw this.failure;
    const data =
      b.buf.byteOffset === 0 &&
      b.buf.byteLength === b.buf.buffer.byteLength &&
      b.buf.buffer instanceof ArrayBuffer
        ? b.buf.buffer
        : b.buf.slice().buffer;
    const job: Omit<ChannelJob, "id"> = {
      pagesOffset: b.block.pagesOffset,
      bitmap: b.block.bitmap.bytes.buffer as SharedArrayBuffer,
      pages: Int32Array.from(b.pages),
      data,
      normalOnly: this.zpd === "legacy",
      zeroPageDetection: this.zpd,
    };
    const worker = this.workers[i] as WorkerChannel;
    this.inflight[i] = worker.run(job).then(
      (r) => {
        if (!r.ok) {
          this.failure ??= new MappedRamError("ERR_IO", {
            subject: `multifd channel ${i} writing "${this.main.path}"`,
            offset: BigInt(r.position),
            rule: `${r.code}: ${r.message}`,
          });
        }
      },
      (e: unknown) => {
        this.failure ??= e;
      },
    );
  }

  private dropZeroPages(batch: PageBatch): PageBatch {
    const keep: number[] = [];
    const pages: number[] = [];
    for (let i = 0; i < batch.pages.length; i++) {
      const p = batch.pages[i] as number;
      if (isZeroPage(pageOf(batch, i))) batch.block.bitmap.clear(p);
      else {
        keep.push(i);
        pages.push(p);
      }
    }
    if (keep.length === batch.pages.length) return batch;
    const buf = new Uint8Array(pages.length * TARGET_PAGE_SIZE);
    keep.forEach((from, to) => {
      buf.set(pageOf(batch, from), to * TARGET_PAGE_SIZE);
    });
    return { block: batch.block, pages, buf };
  }

  /** multifd_ram_flush_and_sync (MULTIFD_SYNC_LOCAL): wait until every channel is idle. Writes nothing. */
  async sync(): Promise<void> {
    await Promise.all(this.inflight);
    this.inflight.fill(undefined);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Closes every channel's descriptor and ends its thread. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close().catch(() => w.terminate())));
  }

  /** For callers that must know whether the bitmap has to be shared memory. */
  static needsSharedBitmap(channels: number | null): boolean {
    return (channels ?? 0) > 0;
  }
}
