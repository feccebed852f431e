// One file channel on a worker thread: multifd_nocomp_send_prepare (zero-page detection, file bitmap
// updates) and file_write_ramblock_iov (one positional write per run of contiguous pages). Batches
// arrive in shared-memory slots (channel-protocol.ts), taken in order; the thread sleeps on the doorbell.
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import {
  type BlockMessage,
  type ChannelInit,
  CTL_CLOSE,
  CTL_DOORBELL,
  SLOT_BLOCK,
  SLOT_BYTES,
  SLOT_DETECT_ZERO,
  SLOT_ERROR_BYTES,
  SLOT_ERROR_LENGTH,
  SLOT_NPAGES,
  SLOT_OFFSET_HI,
  SLOT_OFFSET_LO,
  SLOT_PAGE_LIST,
  SLOT_PAGES_WRITTEN,
  SLOT_STATE,
  SLOT_WRITES,
  SLOTS_PER_CHANNEL,
  STATE_DONE,
  STATE_FAILED,
  STATE_QUEUED,
  slotBase,
} from "./channel-protocol.js";
import { TARGET_PAGE_SIZE } from "./constants.js";
import { isZeroPage } from "./zero-page.js";

const init = workerData as ChannelInit;
if (!parentPort) throw new Error("channel-worker must run on a worker thread");
const inbox: MessagePort = parentPort;
const ctl = new Int32Array(init.control);
const data = new Uint8Array(init.data);
const errors = new Uint8Array(init.errors);
const bitmaps = new Map<number, Uint8Array>();
const fd = openSync(init.path, constants.O_WRONLY);

/** pwrite all of data[from, to) at `at.position`, finishing short writes; `at.position` follows. */
function pwriteAll(from: number, to: number, at: { position: number }): void {
  let done = from;
  while (done < to) {
    const n = writeSync(fd, data, done, to - done, at.position);
    if (n === 0) throw new Error("write returned 0 bytes");
    done += n;
    at.position += n;
  }
}

/** Writes one slot's batch; returns [pages written, writes]. On I/O errors `progress.position` is where. */
function writeSlot(slot: number, progress: { position: number }): [number, number] {
  const b = slotBase(slot);
  const n = ctl[b + SLOT_NPAGES] as number;
  const detect = ctl[b + SLOT_DETECT_ZERO] === 1;
  const base = (ctl[b + SLOT_OFFSET_HI] as number) * 2 ** 32 + ((ctl[b + SLOT_OFFSET_LO] as number) >>> 0);
  const bitmap = bitmaps.get(ctl[b + SLOT_BLOCK] as number);
  if (!bitmap) throw new Error(`block ${ctl[b + SLOT_BLOCK]} was not registered`);
  const first = slot * SLOT_BYTES;
  let written = 0;
  let writes = 0;
  let runFirst = 0; // slot index of the run's first page
  let runLen = 0;
  const flush = () => {
    if (runLen === 0) return;
    progress.position = base + (ctl[b + SLOT_PAGE_LIST + runFirst] as number) * TARGET_PAGE_SIZE;
    const from = first + runFirst * TARGET_PAGE_SIZE;
    pwriteAll(from, from + runLen * TARGET_PAGE_SIZE, progress);
    writes++;
    runLen = 0;
  };
  for (let i = 0; i < n; i++) {
    const page = ctl[b + SLOT_PAGE_LIST + i] as number;
    const at = first + i * TARGET_PAGE_SIZE;
    if (detect && isZeroPage(data.subarray(at, at + TARGET_PAGE_SIZE))) {
      Atomics.and(bitmap, page >>> 3, ~(1 << (page & 7)) & 0xff);
      flush();
      continue;
    }
    Atomics.or(bitmap, page >>> 3, 1 << (page & 7));
    written++;
    if (runLen > 0 && page === (ctl[b + SLOT_PAGE_LIST + runFirst] as number) + runLen) runLen++;
    else {
      flush();
      runFirst = i;
      runLen = 1;
    }
  }
  flush();
  return [written, writes];
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
    }
    const progress = { position: 0 };
    try {
      const [written, writes] = writeSlot(slot, progress);
      ctl[slotBase(slot) + SLOT_PAGES_WRITTEN] = written;
      ctl[slotBase(slot) + SLOT_WRITES] = writes;
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
}
