// migration/ram.c: ram_save_target_page / save_zero_page / save_normal_page (mapped-ram alone) and
// migration/multifd*.c + file.c (mapped-ram + multifd): pages go to pages_offset + index*4096 with
// positional writes; zero pages are not written and their bit is cleared; the bitmap is shared.
import { availableParallelism } from "node:os";
import { basename } from "node:path";
import { Worker } from "node:worker_threads";
import type { PageBitmap } from "./bitmap.js";
import { hex, toSafeNumber } from "./bytes.js";
import {
  type BlockMessage,
  type ChannelInit,
  CONTROL_BYTES,
  CTL_CLOSE,
  CTL_DOORBELL,
  IMAGE_ERROR_PREFIX,
  SHORT_IMAGE_CODE,
  SLOT_BLOCK,
  SLOT_BYTES,
  SLOT_CHANNEL,
  SLOT_DETECT_ZERO,
  SLOT_ERROR_BYTES,
  SLOT_ERROR_LENGTH,
  SLOT_FIRST_PAGE,
  SLOT_NPAGES,
  SLOT_OFFSET_HI,
  SLOT_OFFSET_LO,
  SLOT_PAGE_LIST,
  SLOT_PAGES,
  SLOT_READ_IMAGE,
  SLOT_STATE,
  SLOTS_PER_CHANNEL,
  STATE_FAILED,
  STATE_FREE,
  STATE_QUEUED,
  slotBase,
} from "./channel-protocol.js";
import { TARGET_PAGE_SIZE } from "./constants.js";
import { MappedRamError } from "./errors.js";
import { nativeIo } from "./native-io.js";
import { ioError, type OutputFile } from "./output.js";
import { type BlockSaveJob, saveBlockPagesOnThreads } from "./save-pages.js";
import { newWriteLock } from "./write-lock.js";
import { isZeroPage, type ZeroPageDetection } from "./zero-page.js";

/** Where one block's pages go and which bitmap records them. */
export interface BlockTarget {
  idstr: string;
  pagesOffset: bigint;
  bitmap: PageBitmap;
  /**
   * the block's RAM image file, page 0 at `offset`: channels then read bulk-pass pages themselves (see
   * sendPages)
   */
  image?: { path: string; offset: bigint; usedLength: bigint };
}

/** Up to MULTIFD_PAGES_PER_PACKET pages of one block (multifd_queue_page batches). */
export interface PageBatch {
  block: BlockTarget;
  /** page indexes within the block, ascending */
  pages: number[];
  /** pages.length × 4096 bytes, page i at i*4096; the sender copies it, the caller may reuse it */
  buf: Uint8Array;
}

function pageOf(batch: PageBatch, i: number): Uint8Array {
  return batch.buf.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE);
}

/** Atomics.waitAsync (ES2024; Node ≥ 16), typed here because the project's lib is ES2023. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: "not-equal" | "timed-out" } | { async: true; value: Promise<string> };
  }
).waitAsync;

/** Resolves the compiled worker: next to this module in dist/, or dist/'s copy when run from sources. */
function channelWorkerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith(".ts")) return new URL("../../dist/impl/channel-worker.js", here);
  return new URL("./channel-worker.js", here);
}

/** A channel's failure: an image read (code SHORT_IMAGE_CODE: the image ended) or an output write. */
interface ChannelFailure {
  image: boolean;
  /** the errno's code ("ENOSPC"), or "" when there is none */
  code: string;
  /** an offset of the image from the block's page 0, or of the output */
  position: bigint;
}

/** The output a channel writes, as its errors name it. */
interface OutputNames {
  path: string;
  /** the name errors give the output when `path` is a temp file */
  finalPath: string | undefined;
  /** errors name the multifd channel; without multifd they read as the main output's own */
  multifd: boolean;
}

/**
 * A channel's failure as the save reports it: an image read as the writer reports one of its own
 * reads, an output write as OutputFile.writeAt does (with multifd, naming the channel).
 */
function channelError(
  f: ChannelFailure,
  message: string,
  block: BlockTarget | undefined,
  out: OutputNames,
  channel: number,
): MappedRamError {
  const rule = message.startsWith(`${f.code}:`) ? message : `${f.code || "EIO"}: ${message}`;
  if (f.image && block?.image) {
    const short = f.code === SHORT_IMAGE_CODE;
    return new MappedRamError(short ? "ERR_BAD_ARGUMENT" : "ERR_IO", {
      subject: `RAM image of block "${block.idstr}"`,
      offset: f.position,
      rule: short ? `is shorter than used_length ${hex(block.image.usedLength)}` : rule,
      verb: short ? "decode" : "read",
    });
  }
  if (!out.multifd) {
    const e: NodeJS.ErrnoException = new Error(message);
    if (f.code !== "") e.code = f.code;
    return ioError(out.path, f.position, e, out.finalPath);
  }
  const written = out.finalPath === undefined ? "" : `written as "${basename(out.path)}", `;
  return new MappedRamError("ERR_IO", {
    subject: `file "${out.finalPath ?? out.path}" (${written}multifd channel ${channel})`,
    offset: f.position,
    rule,
    verb: "write",
  });
}

/**
 * An I/O thread (a worker thread with its own descriptor on the output), fed through shared-memory slots
 * (channel-protocol.ts). With `multifd` its errors name the multifd channel of the failed slot; without,
 * they read as the main output's own.
 */
class WorkerChannel {
  private readonly worker: Worker;
  readonly ctl: Int32Array;
  readonly data: Uint8Array;
  private readonly errors: Uint8Array;
  /** the slot the next batch goes to (slots are taken in order, on both sides) */
  private nextSlot = 0;
  /** blocks registered with the channel (id → the block, for errors of its image reads) */
  private readonly registered = new Map<number, BlockTarget>();
  dead: Error | undefined;

  constructor(
    /** the output, as its errors name it */
    private readonly output: OutputNames,
    thread: number,
    writeLock: SharedArrayBuffer,
  ) {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const data = new SharedArrayBuffer(SLOTS_PER_CHANNEL * SLOT_BYTES);
    const errors = new SharedArrayBuffer(SLOTS_PER_CHANNEL * SLOT_ERROR_BYTES);
    this.ctl = new Int32Array(control);
    this.data = new Uint8Array(data);
    this.errors = new Uint8Array(errors);
    const init: ChannelInit = { path: output.path, thread, control, data, errors, writeLock };
    this.worker = new Worker(channelWorkerUrl(), { workerData: init });
    const fail = (e: Error) => {
      this.dead ??= e;
      // wake every waiter; they find the channel dead
      for (let s = 0; s < SLOTS_PER_CHANNEL; s++) Atomics.notify(this.ctl, slotBase(s) + SLOT_STATE);
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`I/O thread ${thread} exited (code ${code})`)));
  }

  /** Waits until `slot` is no longer queued; a failed batch becomes the returned error. */
  async settle(slot: number): Promise<unknown> {
    const at = slotBase(slot) + SLOT_STATE;
    while (Atomics.load(this.ctl, at) === STATE_QUEUED) {
      if (this.dead) return this.dead;
      const w = waitAsync(this.ctl, at, STATE_QUEUED);
      if (w.async) await w.value;
    }
    if (Atomics.load(this.ctl, at) !== STATE_FAILED) return undefined;
    Atomics.store(this.ctl, at, STATE_FREE);
    // `code\nposition\nmessage`
    const len = this.ctl[slotBase(slot) + SLOT_ERROR_LENGTH] as number;
    const text = new TextDecoder().decode(
      this.errors.slice(slot * SLOT_ERROR_BYTES, slot * SLOT_ERROR_BYTES + len),
    );
    const [code = "", position = "0", ...lines] = text.split("\n");
    const block = this.registered.get(this.ctl[slotBase(slot) + SLOT_BLOCK] as number);
    const failure: ChannelFailure = code.startsWith(IMAGE_ERROR_PREFIX)
      ? { image: true, code: code.slice(IMAGE_ERROR_PREFIX.length), position: BigInt(position) }
      : { image: false, code, position: BigInt(position) };
    return channelError(
      failure,
      lines.join("\n"),
      block,
      this.output,
      this.ctl[slotBase(slot) + SLOT_CHANNEL] as number,
    );
  }

  /** The slot the next batch goes to, once free; a failure of the batch it held is returned instead. */
  async take(): Promise<{ slot: number; failure: unknown }> {
    const slot = this.nextSlot;
    const failure = await this.settle(slot);
    return { slot, failure };
  }

  /** Queues the filled `slot` (its pages, data and parameters are in place). */
  queue(slot: number, id: number, block: BlockTarget): void {
    if (!this.registered.has(id)) {
      const bitmap = block.bitmap.bytes.buffer as SharedArrayBuffer;
      const msg: BlockMessage = { kind: "block", id, bitmap };
      if (block.image) {
        msg.image = block.image.path;
        if (block.image.offset !== 0n) msg.imageOffset = toSafeNumber(block.image.offset, "image offset");
      }
      this.worker.postMessage(msg);
      this.registered.set(id, block);
    }
    this.ctl[slotBase(slot) + SLOT_BLOCK] = id;
    Atomics.store(this.ctl, slotBase(slot) + SLOT_STATE, STATE_QUEUED);
    Atomics.add(this.ctl, CTL_DOORBELL, 1);
    Atomics.notify(this.ctl, CTL_DOORBELL);
    this.nextSlot = (slot + 1) % SLOTS_PER_CHANNEL;
  }

  /** Waits for every queued batch; returns the first failure. */
  async drain(): Promise<unknown> {
    let first: unknown;
    for (let s = 0; s < SLOTS_PER_CHANNEL; s++) first ??= await this.settle(s);
    return first;
  }

  async close(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    Atomics.store(this.ctl, CTL_CLOSE, 1);
    Atomics.add(this.ctl, CTL_DOORBELL, 1);
    Atomics.notify(this.ctl, CTL_DOORBELL);
    await exited;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * I/O threads of a save. QEMU writes pages from the migration thread alone (no multifd) or from one
 * thread per channel, and reads nothing (guest RAM is mapped); here reading the image is work too, so
 * at least MIN_IO_THREADS share it, and no more threads run than the machine has cores (more only
 * contend for them: each costs a start-up). A thread then carries the batches of several channels, or a
 * channel's batches are shared by several threads; errors name the channel. No byte of the file depends
 * on which thread wrote a page.
 */
const MIN_IO_THREADS = 2;

function ioThreads(channels: number | null): number {
  return Math.max(MIN_IO_THREADS, Math.min(channels ?? 0, availableParallelism()));
}

/**
 * Pages per hand-off when channels read the image themselves (16 MiB): few enough hand-offs that the
 * flow's wake-ups cost nothing, small enough that channels share the work evenly.
 */
const CHANNEL_READ_PAGES = 4096;

/**
 * The page sender. With multifd, N channels on worker threads — each with its own descriptor on the output
 * — take batches in turn (multifd_send); zero detection runs in the channel (`multifd`) or in the
 * migration flow (`legacy`), and `none` writes every page. Without multifd the main channel's page writes
 * run the same way; zero detection and bitmap updates are then done there too. Channels are carried by I/O
 * threads (ioThreads), which read bulk-pass pages from the RAM image themselves when it is a file; with
 * the native helper, its own threads run that whole bulk pass instead (sendRanges, save-pages.ts), as many
 * as there would be I/O threads. Which thread does any of it changes no byte of the file: pages go to
 * fixed offsets, every batch of a round names distinct pages, and the bitmap is written only after sync().
 * Each I/O thread holds at most SLOTS_PER_CHANNEL batches; memory is fixed: 2 MiB of slots per thread.
 */
export class PageSender {
  /** the I/O threads, started when the first batch is queued (none when the native helper writes all) */
  private readonly threads: WorkerChannel[] = [];
  private readonly blockIds = new Map<SharedArrayBuffer, number>();
  /** batches queued so far, modulo channels × threads: batch k goes to channel k % channels, thread k % threads */
  private turn = 0;
  private failure: unknown;
  private readonly writeLock = newWriteLock();
  private readonly threadCount: number;
  /** the output, as channel errors name it */
  private readonly output: OutputNames;

  private constructor(
    main: OutputFile,
    private readonly zpd: ZeroPageDetection,
    /** multifd channels (1 without multifd: the main channel) */
    private readonly channels: number,
    readonly multifd: boolean,
  ) {
    this.threadCount = ioThreads(multifd ? channels : null);
    this.output = { path: main.path, finalPath: main.finalPath, multifd };
  }

  static async start(main: OutputFile, zpd: ZeroPageDetection, channels: number | null): Promise<PageSender> {
    const multifd = (channels ?? 0) > 0;
    return new PageSender(main, zpd, multifd ? (channels as number) : 1, multifd);
  }

  /** The I/O threads, started on first use. */
  private ioThreads(): WorkerChannel[] {
    for (let i = this.threads.length; i < this.threadCount; i++) {
      this.threads.push(new WorkerChannel(this.output, i, this.writeLock));
    }
    return this.threads;
  }

  /**
   * The bulk pass of `block`: pages of `ranges` ([first, end) pairs, ascending). When channels read the
   * block's image file and the native helper is there, its threads do all of it (save-pages.ts);
   * otherwise batches go to the I/O threads through sendPages, `fill` reading pages [first, first + n)
   * when channels do not. `onPages` gets the pages of the block done so far (holes skipped before them
   * included, with sendPages).
   */
  async sendRanges(
    block: BlockTarget,
    ranges: Float64Array,
    fill: (first: number, into: Uint8Array) => Promise<void>,
    scratch: Uint8Array,
    onPages?: (pages: number) => void,
  ): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const io = this.channelReads(block) ? nativeIo() : undefined;
    if (io !== undefined && block.image !== undefined) {
      const job: BlockSaveJob = {
        image: block.image.path,
        imageOffset: toSafeNumber(block.image.offset, "image offset"),
        output: this.output.path,
        pagesOffset: toSafeNumber(block.pagesOffset, "pages_offset"),
        detect: this.zpd !== "none",
        bitmap: block.bitmap.bytes,
        ranges,
        chunkPages: CHANNEL_READ_PAGES,
        threads: this.threadCount,
      };
      const { chunks, failure } = await saveBlockPagesOnThreads(job, io, onPages);
      // each chunk is a batch of the channel whose turn it was, as with sendPages
      const channel = failure === undefined ? 0 : (this.turn + failure.chunk) % this.channels;
      this.turn = (this.turn + chunks) % (this.channels * this.threadCount);
      if (failure !== undefined) {
        const f: ChannelFailure = {
          image: failure.kind !== "write",
          code: failure.kind === "image-short" ? SHORT_IMAGE_CODE : failure.code,
          position: BigInt(failure.position),
        };
        this.failure = channelError(f, failure.message, block, this.output, channel);
        throw this.failure;
      }
      return;
    }
    const step = this.pagesPerSend(block);
    for (let r = 0; r < ranges.length; r += 2) {
      const end = ranges[r + 1] as number;
      for (let first = ranges[r] as number; first < end; first += step) {
        const n = Math.min(step, end - first);
        await this.sendPages(block, first, n, (into) => fill(first, into), scratch);
        onPages?.(first + n);
      }
    }
  }

  /** Queue a batch of pages of one block. Resolves when a channel slot holds a copy of it. */
  async send(batch: PageBatch): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (batch.pages.length > SLOT_PAGES) throw new RangeError(`a batch holds at most ${SLOT_PAGES} pages`);
    // ram.c: save_zero_page in the migration thread (legacy); only normal pages are queued.
    const keep = this.legacy ? this.dropZeroPages(batch) : undefined;
    if (keep?.length === 0) return;
    const { ch, slot } = await this.takeSlot();
    const b = slotBase(slot);
    const dataAt = slot * SLOT_BYTES;
    if (keep) {
      keep.forEach((from, to) => {
        ch.data.set(pageOf(batch, from), dataAt + to * TARGET_PAGE_SIZE);
        ch.ctl[b + SLOT_PAGE_LIST + to] = batch.pages[from] as number;
      });
    } else {
      ch.data.set(batch.buf.subarray(0, batch.pages.length * TARGET_PAGE_SIZE), dataAt);
      for (let i = 0; i < batch.pages.length; i++) ch.ctl[b + SLOT_PAGE_LIST + i] = batch.pages[i] as number;
    }
    this.queueSlot(ch, slot, batch.block, keep ? keep.length : batch.pages.length);
  }

  /**
   * Queue pages [first, first + n) of one block. When the block has an image file (and zero pages are
   * not found in the flow, as legacy does), a channel reads them itself: reads run on the channel
   * threads, in parallel, and `n` may be any number (pagesPerSend() says how many to give at once).
   * Otherwise `fill` reads them straight into a channel slot (legacy: into `scratch`, then send()), and
   * `n` is at most a packet's worth.
   */
  private async sendPages(
    block: BlockTarget,
    first: number,
    n: number,
    fill: (into: Uint8Array) => Promise<void>,
    scratch: Uint8Array,
  ): Promise<void> {
    const channelReads = this.channelReads(block);
    if (!channelReads && n > SLOT_PAGES) throw new RangeError(`a batch holds at most ${SLOT_PAGES} pages`);
    if (this.legacy) {
      const buf = scratch.subarray(0, n * TARGET_PAGE_SIZE);
      await fill(buf);
      return this.send({ block, pages: Array.from({ length: n }, (_, i) => first + i), buf });
    }
    if (this.failure !== undefined) throw this.failure;
    const { ch, slot } = await this.takeSlot();
    const b = slotBase(slot);
    if (channelReads) {
      ch.ctl[b + SLOT_FIRST_PAGE] = first;
    } else {
      // On a failed read the slot stays free and the channel's next slot is still this one.
      await fill(ch.data.subarray(slot * SLOT_BYTES, slot * SLOT_BYTES + n * TARGET_PAGE_SIZE));
      for (let i = 0; i < n; i++) ch.ctl[b + SLOT_PAGE_LIST + i] = first + i;
    }
    this.queueSlot(ch, slot, block, n, channelReads);
  }

  /** How many pages of `block` one sendPages call should take: a range when channels read the image. */
  private pagesPerSend(block: BlockTarget): number {
    return this.channelReads(block) ? CHANNEL_READ_PAGES : SLOT_PAGES;
  }

  private channelReads(block: BlockTarget): boolean {
    return block.image !== undefined && !this.legacy;
  }

  /** multifd with zero detection in the migration flow (ram.c: save_zero_page before queueing). */
  private get legacy(): boolean {
    return this.multifd && this.zpd === "legacy";
  }

  /**
   * The next channel in turn (multifd_send picks channels round-robin), the thread that carries it this
   * time, and that thread's next slot, once free. The slot is marked with the channel.
   */
  private async takeSlot(): Promise<{ ch: WorkerChannel; slot: number }> {
    const k = this.turn;
    const threads = this.ioThreads();
    this.turn = (k + 1) % (this.channels * threads.length);
    const ch = threads[k % threads.length] as WorkerChannel;
    const { slot, failure } = await ch.take();
    this.failure ??= failure ?? ch.dead;
    if (this.failure !== undefined) throw this.failure;
    ch.ctl[slotBase(slot) + SLOT_CHANNEL] = k % this.channels;
    return { ch, slot };
  }

  /**
   * Fills in a slot's parameters and hands it to the channel: its data and page list are in place, or
   * with `readImage` it names a range from SLOT_FIRST_PAGE that the channel reads from the image.
   */
  private queueSlot(
    ch: WorkerChannel,
    slot: number,
    block: BlockTarget,
    npages: number,
    readImage = false,
  ): void {
    const b = slotBase(slot);
    ch.ctl[b + SLOT_READ_IMAGE] = readImage ? 1 : 0;
    const offset = toSafeNumber(block.pagesOffset, "pages_offset");
    ch.ctl[b + SLOT_NPAGES] = npages;
    ch.ctl[b + SLOT_DETECT_ZERO] = !this.legacy && this.zpd !== "none" ? 1 : 0;
    ch.ctl[b + SLOT_OFFSET_LO] = (offset % 2 ** 32) | 0;
    ch.ctl[b + SLOT_OFFSET_HI] = Math.floor(offset / 2 ** 32);
    const bitmap = block.bitmap.bytes.buffer as SharedArrayBuffer;
    let id = this.blockIds.get(bitmap);
    if (id === undefined) {
      id = this.blockIds.size;
      this.blockIds.set(bitmap, id);
    }
    ch.queue(slot, id, block);
  }

  /** Clears the bits of zero pages; returns the batch indexes of the normal pages. */
  private dropZeroPages(batch: PageBatch): number[] {
    const keep: number[] = [];
    for (let i = 0; i < batch.pages.length; i++) {
      if (isZeroPage(pageOf(batch, i))) batch.block.bitmap.clear(batch.pages[i] as number);
      else keep.push(i);
    }
    return keep;
  }

  /** multifd_ram_flush_and_sync (MULTIFD_SYNC_LOCAL): wait until every channel is idle. Writes nothing. */
  async sync(): Promise<void> {
    for (const ch of this.threads) {
      const failure = await ch.drain();
      this.failure ??= failure ?? ch.dead;
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Closes every channel's descriptor and ends its thread. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((w) => w.close().catch(() => w.terminate())));
  }

  /** The bitmap must be shared memory: channel threads update it. */
  static needsSharedBitmap(_channels: number | null): boolean {
    return true;
  }
}
