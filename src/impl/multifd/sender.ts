// migration/migration.c: migration_thread + ram.c (ram_save_setup, ram_save_iterate, ram_save_complete,
// find_dirty_block, ram_save_target_page_multifd) + multifd.c (multifd_send, multifd_send_thread,
// multifd_send_sync_main) + multifd-nocomp.c (multifd_queue_page, multifd_ram_flush_and_sync) +
// multifd-zero-page.c: a QEMU 10.0.2 source of a stopped VM migrating to a socket with multifd.
//
// Pages of one block are queued in batches of up to 128 and handed to the next idle channel; each channel
// sends one packet per batch (packet_num from one global counter). At every sync point (setup, each wrap of
// the dirty-page scan) each channel sends a SYNC packet, then the main channel gets MULTIFD_FLUSH.
import { fstatSync } from "node:fs";
import type { Socket } from "node:net";
import { hex } from "../bytes.js";
import { listedCapabilities } from "../configuration.js";
import {
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_PART,
  TARGET_PAGE_SIZE,
  TARGET_PAGE_SIZE_N,
} from "../constants.js";
import { MappedRamError } from "../errors.js";
import { vmdescJson } from "../machine.js";
import { ioError } from "../output.js";
import { machineProfile, ramListOrder } from "../save.js";
import { FileSource } from "../source.js";
import type { ZeroPageDetection } from "../zero-page.js";
import {
  encodeMultiFDInit,
  encodeMultiFDPacket,
  encodeSyncPacket,
  MULTIFD_FLAG_NOCOMP,
  MULTIFD_PAGE_COUNT,
} from "./packet.js";
import {
  copyWindowBytes,
  imageShorter,
  type PageWindow,
  PageWindowPool,
  readPageWindow,
  WINDOW_PAGES,
} from "./page-window.js";
import { MainChannelComposer } from "./precopy-compose.js";
import { connectSocket, formatSocketAddress, parseSocketAddress } from "./transport.js";

export interface SendOptions {
  /** `tcp:HOST:PORT` or `unix:PATH` of a destination waiting with `migrate-incoming` */
  to: string;
  /** RAM blocks and their image files (sent in QEMU's RAM-list order: largest first, ties as given) */
  blocks: Array<{ idstr: string; image: string }>;
  /** machine profile (default "none") */
  machine?: string;
  /** multifd-channels (1..255) */
  multifdChannels: number;
  /** zero-page-detection (default "multifd") */
  zeroPageDetection?: ZeroPageDetection;
  /** uuid in every MultiFDInit_t (the source's -uuid); default all zero */
  uuid?: Uint8Array;
  /** runstate recorded in globalstate (default "prelaunch": a `-S` VM that never ran) */
  runstate?: string;
  /** hard limit for the whole send, in ms (default 600 000) */
  timeoutMs?: number;
}

export interface SentChannel {
  id: number;
  packets: number;
  syncPackets: number;
  normalPages: number;
  zeroPages: number;
  bytes: number;
}

export interface SendResult {
  address: string;
  channels: SentChannel[];
  /** packets over all channels (packet_num 0..packets-1) */
  packets: number;
  main: { bytes: number; flushes: number; zeroRecords: number };
}

interface Block {
  idstr: string;
  usedLength: bigint;
  numPages: number;
  image: FileSource;
}

/** A batch of pages of one block (MultiFDPages_t). */
interface Batch {
  block: Block;
  offsets: bigint[];
  data: Uint8Array[];
  /** which pages are zero (as read; only when zero pages are detected) */
  zero: boolean[];
  /**
   * the window of its pages that still lie where they were read (one at most: its pages in a window the
   * reader is done with are copied out, #detach)
   */
  window: PageWindow | undefined;
}

/**
 * Windows alive at once, at most (32 MiB): before reading another, the send waits for a channel to
 * finish a packet. Busy channels keep the windows their packets' pages are in, so without a bound
 * 255 channels could keep 255 windows.
 */
const MAX_LIVE_WINDOWS = 8;

interface Channel {
  socket: Socket;
  stats: SentChannel;
  busy: Promise<void> | undefined;
}

function badArgument(rule: string, actual: string): MappedRamError {
  return new MappedRamError("ERR_BAD_ARGUMENT", { subject: "send options", rule, actual });
}

/**
 * multifd_send_zero_page_detect: walks the batch from both ends, swapping each zero page (`zero[i]`) to
 * the back, so normal pages come first (their order is not preserved).
 */
export function partitionZeroPages(offsets: bigint[], data: Uint8Array[], zero: boolean[]): number {
  let i = 0;
  let j = offsets.length - 1;
  while (i <= j) {
    if (!zero[i]) {
      i++;
      continue;
    }
    if (i !== j) {
      [offsets[i], offsets[j]] = [offsets[j] as bigint, offsets[i] as bigint];
      [data[i], data[j]] = [data[j] as Uint8Array, data[i] as Uint8Array];
      [zero[i], zero[j]] = [zero[j] as boolean, zero[i] as boolean];
    }
    j--;
  }
  return i;
}

/** The first `count` views as few views as possible: each run of neighbours in one buffer becomes one. */
export function coalescedViews(views: Uint8Array[], count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < count) {
    const first = views[i] as Uint8Array;
    let end = first.byteOffset + first.byteLength;
    let j = i + 1;
    for (; j < count; j++) {
      const v = views[j] as Uint8Array;
      if (v.buffer !== first.buffer || v.byteOffset !== end) break;
      end += v.byteLength;
    }
    out.push(j === i + 1 ? first : new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset));
    i = j;
  }
  return out;
}

/** Sends the migration stream of a stopped VM whose RAM blocks are the given images. */
export async function sendMigration(opts: SendOptions): Promise<SendResult> {
  const n = opts.multifdChannels;
  if (!Number.isInteger(n) || n < 1 || n > 255) {
    throw badArgument("multifd-channels must be between 1 and 255", String(n));
  }
  const uuid = opts.uuid ?? new Uint8Array(16);
  if (uuid.length !== 16) throw badArgument("uuid must be 16 bytes", String(uuid.length));
  const zpd = opts.zeroPageDetection ?? "multifd";
  const machine = machineProfile(opts.machine ?? "none");
  const address = parseSocketAddress(opts.to);
  const names = new Set<string>();
  const blocks: Block[] = [];
  try {
    for (const b of opts.blocks) {
      if (names.has(b.idstr)) throw badArgument("block names must be unique", JSON.stringify(b.idstr));
      names.add(b.idstr);
      const image = await FileSource.open(b.image).catch((e: unknown) => {
        throw ioError(b.image, undefined, e, undefined, "open");
      });
      blocks.push({
        idstr: b.idstr,
        usedLength: image.size,
        numPages: Number(image.size / TARGET_PAGE_SIZE_N),
        image,
      });
      if (image.size === 0n || image.size % TARGET_PAGE_SIZE_N !== 0n) {
        throw new MappedRamError("ERR_BAD_ARGUMENT", {
          subject: `RAM image "${b.image}"`,
          rule: "size must be a positive multiple of 0x1000",
          actual: hex(image.size),
        });
      }
    }
    if (blocks.length === 0) throw badArgument("at least one --block is needed", "none");
    const run = new SendRun(formatSocketAddress(address), n, zpd, uuid);
    return await run.run(opts.timeoutMs ?? 600_000, async () => {
      const configuration = { machineName: machine.machineName, capabilities: listedCapabilities(new Set()) };
      const devices = machine.devices(opts.runstate ?? "prelaunch");
      await run.connect(address);
      const main = new MainChannelComposer(machine.ramSection);
      const ordered = ramListOrder(blocks);
      // qemu_savevm_state_header + ram_save_setup (its sync: SYNC on every channel, then MULTIFD_FLUSH)
      await run.writeMain(main.header(configuration).take());
      main.ramStart(ordered);
      await run.sync(main);
      await run.writeMain(main.ramEos().take());
      // ram_save_iterate: the bulk round, then the wrap of the scan (sync), then nothing is dirty
      main.ramIterate(QEMU_VM_SECTION_PART);
      for (const b of ordered) await run.sendBlock(b, main);
      await run.sync(main);
      await run.writeMain(main.ramEos().take());
      // migration_completion: SWITCHOVER_START, ram_save_complete (one more wrap: sync), devices, EOF, vmdesc
      if (machine.switchoverStart) main.switchoverStart();
      main.ramIterate(QEMU_VM_SECTION_END);
      await run.sync(main);
      main.ramEos();
      for (const d of devices) main.device(d);
      main.eof(vmdescJson(configuration, devices));
      await run.writeMain(main.take());
      await run.finish();
    });
  } finally {
    for (const b of blocks) await b.image.close();
  }
}

/** The image's size now, or undefined when it cannot be had (closed already). */
function imageSize(image: FileSource): bigint | undefined {
  try {
    return fstatSync(image.fd, { bigint: true }).size;
  } catch {
    return undefined;
  }
}

/** The sockets and counters of one send. */
class SendRun {
  #main: Socket | undefined;
  #mainStats = { bytes: 0, flushes: 0, zeroRecords: 0 };
  readonly #channels: Channel[] = [];
  readonly #abort = new AbortController();
  #failure: unknown;
  #packetNum = 0n;
  #next = 0;
  #batch: Batch | undefined;
  readonly #windows = new PageWindowPool();
  /** the blocks sent so far, for what an EFAULT on a socket means */
  readonly #blocks = new Set<Block>();

  constructor(
    readonly address: string,
    readonly channelCount: number,
    readonly zpd: ZeroPageDetection,
    readonly uuid: Uint8Array,
  ) {}

  fail(e: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = e;
    this.#abort.abort(e);
    this.#main?.destroy();
    for (const c of this.#channels) c.socket.destroy();
  }

  async run(timeoutMs: number, body: () => Promise<void>): Promise<SendResult> {
    const timer = setTimeout(() => {
      this.fail(
        new MappedRamError("ERR_IO", {
          subject: `migration to ${this.address}`,
          rule: `did not finish within ${timeoutMs} ms`,
        }),
      );
    }, timeoutMs);
    try {
      await body();
    } catch (e) {
      this.fail(e);
      await Promise.allSettled(this.#channels.map((c) => c.busy));
      throw this.#failure;
    } finally {
      clearTimeout(timer);
      // no write is pending now: what a failed send still held of its windows is unmapped here
      this.#windows.dispose();
    }
    return {
      address: this.address,
      channels: this.#channels.map((c) => c.stats),
      packets: Number(this.#packetNum),
      main: { ...this.#mainStats },
    };
  }

  #track(s: Socket): Socket {
    // Errors surface through the pending write or connect; this keeps them from being unhandled events.
    s.on("error", (e) => this.fail(this.#ioError(e)));
    return s;
  }

  #ioError(e: unknown): MappedRamError {
    if (e instanceof MappedRamError) return e;
    const err = e as NodeJS.ErrnoException;
    // A socket write from a window's mapping (page-window.ts) whose pages are gone: an image shrank.
    if (err?.code === "EFAULT") {
      for (const b of this.#blocks) {
        const size = imageSize(b.image);
        if (size !== undefined && size < b.usedLength) return imageShorter(b.idstr, size);
      }
    }
    return new MappedRamError("ERR_IO", {
      subject: `migration to ${this.address}`,
      rule: `${err?.code ?? "I/O error"}: ${err?.message ?? String(e)}`,
      cause: e,
    });
  }

  /** The main channel first, then channel 0..N-1, each greeting right away (MultiFDInit_t). */
  async connect(address: Parameters<typeof connectSocket>[0]): Promise<void> {
    this.#main = this.#track(
      await connectSocket(address, `main channel to ${this.address}`, this.#abort.signal),
    );
    for (let id = 0; id < this.channelCount; id++) {
      const socket = this.#track(
        await connectSocket(address, `multifd channel ${id} to ${this.address}`, this.#abort.signal),
      );
      const ch: Channel = {
        socket,
        stats: { id, packets: 0, syncPackets: 0, normalPages: 0, zeroPages: 0, bytes: 0 },
        busy: undefined,
      };
      this.#channels.push(ch);
      await this.#write(socket, encodeMultiFDInit({ id, uuid: this.uuid }));
      ch.stats.bytes += 64;
    }
  }

  /** Writes the chunks in order as one writev (corked); resolves when the last has gone to the kernel. */
  #write(socket: Socket, ...chunks: Uint8Array[]): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      socket.cork();
      for (let i = 0; i < chunks.length - 1; i++) socket.write(chunks[i] as Uint8Array);
      socket.write(chunks[chunks.length - 1] as Uint8Array, (err) => {
        if (err) reject(this.#failure ?? this.#ioError(err));
        else resolve();
      });
      socket.uncork();
    });
  }

  async writeMain(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    await this.#write(this.#main as Socket, bytes);
    this.#mainStats.bytes += bytes.length;
  }

  /** Until a busy channel finishes its job (at once when none is busy). */
  async #anyJobDone(): Promise<void> {
    const busy = this.#channels.flatMap((c) => (c.busy === undefined ? [] : [c.busy]));
    if (busy.length > 0) await Promise.race(busy);
  }

  /**
   * The pending batch's pages in window `w` are copied into a buffer of the batch's own, and the batch
   * lets go of `w`, which the reader is done with: a batch that fills slowly (legacy zero-page
   * detection skips zero pages) never holds on to more than the window being read.
   */
  #detach(w: PageWindow): void {
    const batch = this.#batch;
    if (batch === undefined || batch.window !== w) return;
    const inW: number[] = [];
    batch.data.forEach((d, i) => {
      if (d.buffer === w.bytes.buffer) inW.push(i);
    });
    const copy = new Uint8Array(inW.length * TARGET_PAGE_SIZE);
    inW.forEach((i, k) => {
      const into = copy.subarray(k * TARGET_PAGE_SIZE, (k + 1) * TARGET_PAGE_SIZE);
      copyWindowBytes(w, batch.data[i] as Uint8Array, into, batch.block.image, batch.block.idstr);
      batch.data[i] = into;
    });
    batch.window = undefined;
    this.#windows.release(w);
  }

  /** multifd_send: the next idle channel, round robin from the last one used. */
  async #idleChannel(): Promise<Channel> {
    for (;;) {
      for (let k = 0; k < this.channelCount; k++) {
        const i = (this.#next + k) % this.channelCount;
        const ch = this.#channels[i] as Channel;
        if (ch.busy === undefined) {
          this.#next = (i + 1) % this.channelCount;
          return ch;
        }
      }
      await this.#anyJobDone();
    }
  }

  #job(ch: Channel, chunks: Uint8Array[], window?: PageWindow): void {
    const p = this.#write(ch.socket, ...chunks)
      .then(() => {
        for (const c of chunks) ch.stats.bytes += c.length;
        ch.busy = undefined;
      })
      .finally(() => {
        // written, or failed: the socket holds on to none of the window's bytes any more
        if (window !== undefined) this.#windows.release(window);
      });
    // A failed write fails the run; the race in #idleChannel and sync() see the rejection.
    p.catch((e: unknown) => this.fail(e));
    ch.busy = p;
  }

  /** Hands the pending batch to a channel (multifd_send + multifd_nocomp_send_prepare). */
  async #dispatch(): Promise<void> {
    const batch = this.#batch;
    this.#batch = undefined;
    if (batch === undefined || batch.offsets.length === 0) return;
    const ch = await this.#idleChannel();
    const normalCount =
      this.zpd === "multifd"
        ? partitionZeroPages(batch.offsets, batch.data, batch.zero)
        : batch.offsets.length;
    const header = encodeMultiFDPacket({
      flags: MULTIFD_FLAG_NOCOMP,
      pagesAlloc: MULTIFD_PAGE_COUNT,
      packetNum: this.#packetNum++,
      ramblock: batch.block.idstr,
      normal: batch.offsets.slice(0, normalCount),
      zero: batch.offsets.slice(normalCount),
    });
    ch.stats.packets++;
    ch.stats.normalPages += normalCount;
    ch.stats.zeroPages += batch.offsets.length - normalCount;
    // The header, then the normal pages straight from their windows (the image's mappings, or buffers
    // read with pread; neighbours as one view).
    this.#job(ch, [header, ...coalescedViews(batch.data, normalCount)], batch.window);
  }

  /**
   * ram_save_target_page_multifd for every page of a block, in order (the bulk round of a stopped VM),
   * read a window at a time (at most MAX_LIVE_WINDOWS alive). multifd_queue_page: a block change hands
   * the pending batch over first, and a full batch goes at once; legacy zero-page detection sends a zero
   * page as a ZERO record on the main channel instead (save_zero_page, on the main thread).
   */
  async sendBlock(b: Block, main: MainChannelComposer): Promise<void> {
    this.#blocks.add(b);
    const detect = this.zpd !== "none";
    for (let first = 0; first < b.numPages; first += WINDOW_PAGES) {
      const count = Math.min(WINDOW_PAGES, b.numPages - first);
      while (this.#windows.live >= MAX_LIVE_WINDOWS && this.#channels.some((c) => c.busy !== undefined)) {
        await this.#anyJobDone();
      }
      const w = this.#windows.take();
      await readPageWindow(b.image, b.idstr, first, count, detect, w);
      for (let i = 0; i < count; i++) {
        const offset = BigInt(first + i) * TARGET_PAGE_SIZE_N;
        const zero = w.zero[i] === 1;
        if (this.zpd === "legacy" && zero) {
          main.zeroPage(b.idstr, offset);
          this.#mainStats.zeroRecords++;
          continue;
        }
        if (this.#batch !== undefined && this.#batch.block !== b) await this.#dispatch();
        this.#batch ??= { block: b, offsets: [], data: [], zero: [], window: undefined };
        const batch = this.#batch;
        batch.offsets.push(offset);
        batch.data.push(w.bytes.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE));
        batch.zero.push(zero);
        if (batch.window === undefined) {
          batch.window = w;
          w.users++;
        }
        // multifd_queue_page: a full batch goes at once
        if (batch.offsets.length === MULTIFD_PAGE_COUNT) await this.#dispatch();
      }
      this.#detach(w);
      this.#windows.release(w);
      if (main.pending >= 32 * 1024) await this.writeMain(main.take());
    }
  }

  /**
   * multifd_ram_flush_and_sync with MULTIFD_SYNC_ALL: the pending batch goes out, every channel finishes
   * its job and sends a SYNC packet, then the main channel gets RAM_SAVE_FLAG_MULTIFD_FLUSH.
   */
  async sync(main: MainChannelComposer): Promise<void> {
    await this.#dispatch();
    for (const ch of this.#channels) {
      if (ch.busy) await ch.busy;
      ch.stats.packets++;
      ch.stats.syncPackets++;
      this.#job(ch, [encodeSyncPacket(this.#packetNum++)]);
    }
    for (const ch of this.#channels) if (ch.busy) await ch.busy;
    if (this.#failure !== undefined) throw this.#failure;
    main.multifdFlush();
    this.#mainStats.flushes++;
  }

  /** Closes every connection after its last byte and waits (bounded) for the destination to close too. */
  async finish(): Promise<void> {
    const sockets = [this.#main as Socket, ...this.#channels.map((c) => c.socket)];
    const aborted = new Promise<never>((_, reject) => {
      if (this.#abort.signal.aborted) reject(this.#failure);
      this.#abort.signal.addEventListener("abort", () => reject(this.#failure), { once: true });
    });
    aborted.catch(() => undefined);
    await Promise.race([
      aborted,
      Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.end(() => resolve())))),
    ]);
    if (this.#failure !== undefined) throw this.#failure;
    // The destination closes each connection once it has read it; do not wait for that forever.
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.closed) return resolve();
            const t = setTimeout(() => {
              s.destroy();
              resolve();
            }, 5_000);
            s.once("close", () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }
}
