// One file channel on a worker thread: the pages of a batch read from the RAM image with pread when the
// flow asks (in QEMU the channel reads guest memory directly; with the native helper, save-pages.ts
// runs that whole bulk pass on threads of its own instead), multifd_nocomp_send_prepare (zero-page
// detection, file bitmap updates) and file_write_ramblock_iov (one positional write per run of
// contiguous pages). Batches arrive in shared-memory slots (channel-protocol.ts), taken in order; the
// thread sleeps on the doorbell.
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import {
  type BlockMessage,
  type ChannelInit,
  CTL_CLOSE,
  CTL_DOORBELL,
  IMAGE_ERROR_PREFIX,
  SHORT_IMAGE_CODE,
  SLOT_BLOCK,
  SLOT_BYTES,
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
  STATE_DONE,
  STATE_FAILED,
  STATE_QUEUED,
  slotBase,
} from "./channel-protocol.js";
import { TARGET_PAGE_SIZE } from "./constants.js";
import { WriteLock } from "./write-lock.js";
import { isZeroPage } from "./zero-page.js";

const init = workerData as ChannelInit;
if (!parentPort) throw new Error("channel-worker must run on a worker thread");
const inbox: MessagePort = parentPort;
const ctl = new Int32Array(init.control);
const data = new Uint8Array(init.data);
const errors = new Uint8Array(init.errors);
const bitmaps = new Map<number, Uint8Array>();
/** image files of registered blocks (path, offset of page 0), with their descriptor once a slot has asked to read one */
const images = new Map<number, { path: string; offset: number; fd?: number }>();
const fd = openSync(init.path, constants.O_WRONLY);
/** shared by the threads writing this output */
const writeLock = init.writeLock === undefined ? undefined : new WriteLock(init.writeLock);

/**
 * Reads data[from, to) from the block's image at `position`. Failures carry the code
 * `IMAGE_ERROR_PREFIX + code` (SHORT_IMAGE_CODE when the image ends first) and the image offset.
 */
function readImage(
  block: number,
  from: number,
  to: number,
  position: number,
  at: { position: number },
): void {
  at.position = position;
  try {
    const image = images.get(block);
    if (image === undefined) throw new Error(`block ${block} has no RAM image`);
    image.fd ??= openSync(image.path, constants.O_RDONLY);
    let done = from;
    while (done < to) {
      const n = readSync(image.fd, data, done, to - done, image.offset + position + (done - from));
      if (n === 0) {
        const e: NodeJS.ErrnoException = new Error("the RAM image ends before used_length");
        e.code = SHORT_IMAGE_CODE;
        throw e;
      }
      done += n;
      at.position = position + (done - from);
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    err.code = `${IMAGE_ERROR_PREFIX}${err.code ?? ""}`;
    throw err;
  }
}

/** pwrite all of src[from, to) at `at.position`, finishing short writes; `at.position` follows. */
function pwriteAll(src: Uint8Array, from: number, to: number, at: { position: number }): void {
  let done = from;
  while (done < to) {
    const n = writeSync(fd, src, done, to - done, at.position);
    if (n === 0) throw new Error("write returned 0 bytes");
    done += n;
    at.position += n;
  }
}

/** The runs of a batch's pages to write: [index of the run's first page, pages] pairs. */
const runs = new Int32Array(2 * SLOT_PAGES);

/**
 * Writes `n` pages held at src[first, …): zero pages (`isZero`, with zero-page detection) clear their
 * bit and are skipped, the rest set it and go out in one positional write per run of consecutive pages,
 * all under the output's write lock (taken only once the runs are known).
 */
function writePages(
  src: Uint8Array,
  first: number,
  n: number,
  pageAt: (i: number) => number,
  isZero: ((i: number) => boolean) | undefined,
  base: number,
  bitmap: Uint8Array,
  progress: { position: number },
): void {
  let nRuns = 0;
  let runFirst = 0; // index of the run's first page
  let runLen = 0;
  const endRun = () => {
    if (runLen === 0) return;
    runs[2 * nRuns] = runFirst;
    runs[2 * nRuns + 1] = runLen;
    nRuns++;
    runLen = 0;
  };
  for (let i = 0; i < n; i++) {
    const page = pageAt(i);
    if (isZero?.(i)) {
      Atomics.and(bitmap, page >>> 3, ~(1 << (page & 7)) & 0xff);
      endRun();
      continue;
    }
    Atomics.or(bitmap, page >>> 3, 1 << (page & 7));
    if (runLen > 0 && page === pageAt(runFirst) + runLen) runLen++;
    else {
      endRun();
      runFirst = i;
      runLen = 1;
    }
  }
  endRun();
  if (nRuns === 0) return;
  writeLock?.acquire();
  try {
    for (let r = 0; r < nRuns; r++) {
      const i = runs[2 * r] as number;
      progress.position = base + pageAt(i) * TARGET_PAGE_SIZE;
      const from = first + i * TARGET_PAGE_SIZE;
      pwriteAll(src, from, from + (runs[2 * r + 1] as number) * TARGET_PAGE_SIZE, progress);
    }
  } finally {
    writeLock?.release();
  }
}

/** Zero-page detection on slot data: page i of a batch held at data[first, …). */
function zeroInData(first: number): (i: number) => boolean {
  return (i) => {
    const at = first + i * TARGET_PAGE_SIZE;
    return isZeroPage(data.subarray(at, at + TARGET_PAGE_SIZE));
  };
}

/**
 * Writes one slot's batch. A slot that reads from the image names a range of consecutive pages (any
 * length), read and written one slot's worth at a time. On I/O errors `progress.position` is where.
 */
function writeSlot(slot: number, progress: { position: number }): void {
  const b = slotBase(slot);
  const n = ctl[b + SLOT_NPAGES] as number;
  const detect = ctl[b + SLOT_DETECT_ZERO] === 1;
  const base = (ctl[b + SLOT_OFFSET_HI] as number) * 2 ** 32 + ((ctl[b + SLOT_OFFSET_LO] as number) >>> 0);
  const block = ctl[b + SLOT_BLOCK] as number;
  const bitmap = bitmaps.get(block);
  if (!bitmap) throw new Error(`block ${block} was not registered`);
  const first = slot * SLOT_BYTES;
  if (ctl[b + SLOT_READ_IMAGE] === 1) {
    const firstPage = ctl[b + SLOT_FIRST_PAGE] as number;
    for (let done = 0; done < n; done += SLOT_PAGES) {
      const k = Math.min(SLOT_PAGES, n - done);
      const page0 = firstPage + done;
      readImage(block, first, first + k * TARGET_PAGE_SIZE, page0 * TARGET_PAGE_SIZE, progress);
      const isZero = detect ? zeroInData(first) : undefined;
      writePages(data, first, k, (i) => page0 + i, isZero, base, bitmap, progress);
    }
  } else {
    const pageAt = (i: number) => ctl[b + SLOT_PAGE_LIST + i] as number;
    writePages(data, first, n, pageAt, detect ? zeroInData(first) : undefined, base, bitmap, progress);
  }
}

function reportFailure(slot: number, e: unknown, position: number): void {
  const err = e as NodeJS.ErrnoException;
  const text = new TextEncoder().encode(`${err.code ?? ""}\n${position}\n${err.message ?? String(e)}`);
  const len = Math.min(text.length, SLOT_ERROR_BYTES);
  errors.set(text.subarray(0, len), slot * SLOT_ERROR_BYTES);
  ctl[slotBase(slot) + SLOT_ERROR_LENGTH] = len;
}

function run(): void {
  let slot = 0;
  for (;;) {
    const state = slotBase(slot) + SLOT_STATE;
    for (;;) {
      const bell = Atomics.load(ctl, CTL_DOORBELL);
      if (Atomics.load(ctl, state) === STATE_QUEUED) break;
      if (Atomics.load(ctl, CTL_CLOSE) === 1) return;
      Atomics.wait(ctl, CTL_DOORBELL, bell);
    }
    // blocks named by queued slots were registered before the slot was queued
    for (let m = receiveMessageOnPort(inbox); m; m = receiveMessageOnPort(inbox)) {
      const msg = m.message as BlockMessage;
      bitmaps.set(msg.id, new Uint8Array(msg.bitmap));
      if (msg.image !== undefined) images.set(msg.id, { path: msg.image, offset: msg.imageOffset ?? 0 });
    }
    const progress = { position: 0 };
    try {
      writeSlot(slot, progress);
      Atomics.store(ctl, state, STATE_DONE);
    } catch (e) {
      reportFailure(slot, e, progress.position);
      Atomics.store(ctl, state, STATE_FAILED);
    }
    Atomics.notify(ctl, state);
    slot = (slot + 1) % SLOTS_PER_CHANNEL;
  }
}

try {
  run();
} finally {
  closeSync(fd);
  for (const image of images.values()) if (image.fd !== undefined) closeSync(image.fd);
}
