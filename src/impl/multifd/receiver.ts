// migration/migration.c: migration_ioc_process_incoming (a connection whose first 4 bytes are "QEVM" is the
// main channel, any other is a multifd channel) + multifd.c: multifd_recv_new_channel, multifd_recv_thread,
// multifd_recv_sync_main — a QEMU 10.0.2 destination for a precopy migration with multifd over a socket
// ("packets mode"), writing the RAM it receives to files.
//
// Sync: at its k-th RAM_SAVE_FLAG_MULTIFD_FLUSH the main channel waits until every multifd channel has read
// its k-th SYNC packet; a channel that has read its k-th SYNC reads nothing more until the main channel has
// passed its k-th flush. Every packet is checked (packet.ts); packet_num must be unique over all channels and,
// at the end, complete (0..max without gaps); every channel must have sent one SYNC per flush.
import type { Server, Socket } from "node:net";
import { hex, u32beAt } from "../bytes.js";
import { QEMU_VM_FILE_MAGIC } from "../constants.js";
import { MappedRamError } from "../errors.js";
import {
  checkMultiFDInit,
  checkMultiFDPacketHeader,
  checkMultiFDPacketPages,
  decodeMultiFDInit,
  decodeMultiFDPacketHeader,
  MULTIFD_INIT_SIZE,
  MULTIFD_MAGIC,
  MULTIFD_PACKET_HEADER_SIZE,
} from "./packet.js";
import { type MainChannelSummary, parseMainChannel, type StreamBlock } from "./precopy-parse.js";
import { type ReceivedBlock, ReceivedRam, receiveOutput } from "./received-ram.js";
import { SocketReader, shortRead } from "./socket-reader.js";
import { formatSocketAddress, listenSocket, parseSocketAddress } from "./transport.js";

/**
 * Bytes a connection may hold unread before it is paused: 4 MiB, less with many channels, so that all
 * of them together stay near 32 MiB (at least 256 KiB each; page data is written as it arrives).
 */
export function connectionHighWaterMark(channels: number): number {
  return Math.max(256 * 1024, Math.min(4 * 1024 * 1024, Math.floor((32 * 1024 * 1024) / (channels + 1))));
}

export interface ReceiveOptions {
  /** `tcp:HOST:PORT` (port 0: any free port) or `unix:PATH` */
  listen: string;
  /** multifd-channels of the source (1..255) */
  multifdChannels: number;
  /** a directory for block files (`<idstr>.bin`), or `FILE.mig` for the equivalent mapped-ram file */
  output: string;
  /** replace existing outputs */
  force?: boolean;
  /** the uuid every MultiFDInit_t must carry (the destination's -uuid); default all zero */
  uuid?: Uint8Array;
  /** hard limit for the whole receive, in ms (default 600 000) */
  timeoutMs?: number;
  /** fail when no byte arrives on any connection for this long while something is awaited (default 30 000) */
  idleTimeoutMs?: number;
}

export interface ReceivedChannel {
  id: number;
  /** index of the connection, in accept order */
  connection: number;
  packets: number;
  syncPackets: number;
  normalPages: number;
  zeroPages: number;
  bytes: bigint;
}

export interface ReceiveResult {
  /** the address that was listened on (with the real port) */
  address: string;
  output: string;
  format: "blocks" | "mapped-ram";
  blocks: ReceivedBlock[];
  channels: ReceivedChannel[];
  /** packets over all channels (= max packet_num + 1) */
  packets: number;
  main: {
    machine: string | undefined;
    bytes: bigint;
    flushes: number;
    zeroRecords: number;
    pageRecords: number;
    partSections: number;
    switchoverStart: boolean;
    devices: string[];
    vmdesc: boolean;
  };
}

export interface Receiver {
  /** the address being listened on, with the real port (`tcp:127.0.0.1:40123`) */
  readonly address: string;
  /** settles once the migration is received and written, or on the first error (outputs removed) */
  readonly done: Promise<ReceiveResult>;
  /** ends the receive with `reason` (default: an ERR_IO "aborted") */
  abort(reason?: unknown): void;
}

interface ChannelState {
  stats: ReceivedChannel;
  reader: SocketReader;
  syncs: number;
  ended: boolean;
}

const ZERO_UUID = new Uint8Array(16);

function badArgument(rule: string, actual: string): MappedRamError {
  return new MappedRamError("ERR_BAD_ARGUMENT", { subject: "receive options", rule, actual });
}

/** Starts listening; the returned Receiver's `done` resolves when the migration has been received. */
export async function startReceiver(opts: ReceiveOptions): Promise<Receiver> {
  const n = opts.multifdChannels;
  if (!Number.isInteger(n) || n < 1 || n > 255) {
    throw badArgument("multifd-channels must be between 1 and 255", String(n));
  }
  const uuid = opts.uuid ?? ZERO_UUID;
  if (uuid.length !== 16) throw badArgument("uuid must be 16 bytes", String(uuid.length));
  const output = receiveOutput(opts.output);
  const ram = new ReceivedRam(output, opts.force ?? false);
  await ram.prepare();
  const r = new Reception(n, uuid, ram, opts.idleTimeoutMs ?? 30_000);
  const { server, address } = await listenSocket(parseSocketAddress(opts.listen), (s) => r.accept(s));
  const text = formatSocketAddress(address);
  r.server = server;
  const done = (async () => {
    try {
      const summary = await r.run(opts.timeoutMs ?? 600_000);
      const written = await ram.commit(summary);
      return r.result(text, opts.output, output.kind, written.blocks, summary);
    } catch (e) {
      await ram.abort();
      throw e;
    }
  })();
  // Callers may await `done` late (after driving the source); a rejection must not count as unhandled.
  done.catch(() => undefined);
  return { address: text, done, abort: (reason?: unknown) => r.fail(reason ?? r.aborted()) };
}

/** startReceiver, calling `onListening` with the real address, then waiting for the result. */
export async function receiveMigration(
  opts: ReceiveOptions & { onListening?: (address: string) => void },
): Promise<ReceiveResult> {
  const rx = await startReceiver(opts);
  opts.onListening?.(rx.address);
  return rx.done;
}

/** One receive: connections, the main channel, the multifd channels, the sync points. */
class Reception {
  server: Server | undefined;
  readonly #channels: Array<ChannelState | undefined>;
  readonly #sockets = new Set<Socket>();
  readonly #readers = new Set<SocketReader>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #packetNums = new Set<bigint>();
  #maxPacketNum = -1n;
  #connections = 0;
  #main: SocketReader | undefined;
  #blocks: Map<string, StreamBlock> | undefined;
  #flushes = 0;
  #mainDone = false;
  #failure: unknown;
  #waiters = new Set<() => void>();
  #idleTimer: NodeJS.Timeout | undefined;
  #lastWait = "the main channel to connect";

  constructor(
    readonly channelCount: number,
    readonly uuid: Uint8Array,
    readonly ram: ReceivedRam,
    readonly idleTimeoutMs: number,
  ) {
    this.#channels = Array.from({ length: channelCount }, () => undefined);
  }

  aborted(): MappedRamError {
    return new MappedRamError("ERR_IO", { subject: "migration receive", rule: "was aborted" });
  }

  #touch(): void {
    if (this.#idleTimer === undefined || this.#failure !== undefined) return;
    this.#idleTimer.refresh();
  }

  #changed(): void {
    const ws = [...this.#waiters];
    this.#waiters.clear();
    for (const w of ws) w();
  }

  /** Waits until `ready()` holds (it may throw to fail the receive); `what` names the wait for timeouts. */
  async #until(what: string, ready: () => boolean): Promise<void> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      if (ready()) return;
      this.#lastWait = what;
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  fail(e: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = e;
    for (const r of this.#readers) r.fail(e);
    for (const s of this.#sockets) s.destroy();
    this.server?.close();
    this.#changed();
  }

  #spawn(p: Promise<unknown>): void {
    const t = p.catch((e: unknown) => this.fail(e));
    this.#tasks.add(t);
    void t.finally(() => this.#tasks.delete(t));
  }

  accept(socket: Socket): void {
    const k = this.#connections++;
    if (this.#failure !== undefined || this.#mainDone) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const reader = new SocketReader(socket, {
      highWaterMark: connectionHighWaterMark(this.#channels.length),
      onData: () => this.#touch(),
    });
    this.#readers.add(reader);
    this.#touch();
    this.#spawn(this.#classify(k, reader));
  }

  async #classify(k: number, reader: SocketReader): Promise<void> {
    const subject = `connection ${k}`;
    const first = await reader.peek(4);
    if (first === undefined) {
      throw new MappedRamError("ERR_TRUNCATED", {
        subject,
        offset: 0n,
        field: "magic",
        rule: "ended before its first 4 bytes",
        bytesRequested: 4n,
      });
    }
    const magic = u32beAt(first, 0);
    if (magic === QEMU_VM_FILE_MAGIC) {
      if (this.#main !== undefined) {
        throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
          subject,
          offset: 0n,
          field: "magic",
          rule: "is a second main channel (QEVM); only one is expected",
        });
      }
      this.#main = reader;
      this.#changed();
      return;
    }
    if (magic !== MULTIFD_MAGIC) {
      throw new MappedRamError("ERR_BAD_MAGIC", {
        subject,
        offset: 0n,
        field: "magic",
        rule: `must be QEMU_VM_FILE_MAGIC ${hex(QEMU_VM_FILE_MAGIC)} (main channel) or MULTIFD_MAGIC ${hex(MULTIFD_MAGIC)} (multifd channel)`,
        actual: hex(magic),
      });
    }
    const hs = `multifd channel handshake on connection ${k}`;
    const init = decodeMultiFDInit(await reader.read(MULTIFD_INIT_SIZE, hs, "MultiFDInit_t"));
    checkMultiFDInit(init, { channels: this.channelCount, uuid: this.uuid }, { subject: hs, offset: 0n });
    if (this.#channels[init.id] !== undefined) {
      throw new MappedRamError("ERR_INVALID_VALUE", {
        subject: `multifd channel ${init.id} (connection ${k})`,
        offset: 24n,
        field: "id",
        rule: `is already connected (multifd: received id '${init.id}' already setup)`,
        actual: String(init.id),
      });
    }
    const ch: ChannelState = {
      stats: {
        id: init.id,
        connection: k,
        packets: 0,
        syncPackets: 0,
        normalPages: 0,
        zeroPages: 0,
        bytes: 0n,
      },
      reader,
      syncs: 0,
      ended: false,
    };
    this.#channels[init.id] = ch;
    this.#changed();
    await this.#channelLoop(ch);
  }

  #lookup = (idstr: string) => this.#blocks?.get(idstr);

  /** multifd_recv_thread: packets until the peer closes at a packet boundary. */
  async #channelLoop(ch: ChannelState): Promise<void> {
    const { reader, stats } = ch;
    const id = stats.id;
    for (let index = 0; ; index++) {
      const subject = `multifd channel ${id} packet ${index}`;
      const at = reader.pos;
      const raw = await reader.readOrEnd(MULTIFD_PACKET_HEADER_SIZE, subject, "header");
      if (raw === undefined) break;
      const h = decodeMultiFDPacketHeader(raw);
      const ctx = { subject, offset: at };
      const head = checkMultiFDPacketHeader(h, ctx);
      if (this.#packetNums.has(head.packetNum)) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject,
          offset: at + 24n,
          field: "packet_num",
          rule: "must be unique over all channels; this number was already received",
          actual: String(head.packetNum),
        });
      }
      this.#packetNums.add(head.packetNum);
      if (head.packetNum > this.#maxPacketNum) this.#maxPacketNum = head.packetNum;
      stats.packets++;
      if (head.pageCount > 0) {
        await this.#until(
          `the main channel's block list (multifd channel ${id} packet ${index} has pages)`,
          () => {
            if (this.#blocks === undefined && this.#mainDone) {
              throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
                subject,
                offset: at,
                rule: "has pages but the main channel listed no RAM blocks",
              });
            }
            return this.#blocks !== undefined;
          },
        );
        const pages = checkMultiFDPacketPages(h, this.#lookup, ctx);
        await this.ram.zeroPages(pages.block.idstr, pages.zero);
        this.ram.markReceived(pages.block.idstr, pages.normal);
        // written as it arrives: a channel holds its read-ahead at most, never a whole packet
        const dataAt = reader.pos;
        for (let done = 0; done < head.payloadSize; ) {
          const views = await reader.readViewsUpTo(head.payloadSize - done);
          if (views.length === 0) throw shortRead(subject, dataAt, head.payloadSize, done, "page data");
          await this.ram.writePageData(pages.block.idstr, pages.normal, done, views);
          for (const v of views) done += v.length;
        }
        stats.normalPages += pages.normal.length;
        stats.zeroPages += pages.zero.length;
      }
      stats.bytes = reader.pos;
      if (head.sync) {
        ch.syncs++;
        stats.syncPackets++;
        this.#changed();
        const k = ch.syncs;
        await this.#until(
          `the main channel's MULTIFD_FLUSH ${k} (multifd channel ${id} sent SYNC ${k})`,
          () => {
            if (this.#flushes >= k) return true;
            if (this.#mainDone) {
              throw new MappedRamError("ERR_INVALID_VALUE", {
                subject,
                offset: at + 8n,
                field: "flags",
                rule: `is SYNC number ${k} of this channel, but the main channel has only ${this.#flushes} MULTIFD_FLUSH records`,
                actual: hex(h.flags),
              });
            }
            return false;
          },
        );
      }
    }
    stats.bytes = reader.pos;
    ch.ended = true;
    this.#changed();
  }

  /** multifd_recv_sync_main */
  async #flush(k: number, offset: bigint): Promise<void> {
    if (this.#blocks === undefined) {
      throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
        subject: "main channel RAM record",
        offset,
        field: "flags",
        rule: "RAM_SAVE_FLAG_MULTIFD_FLUSH comes before the block list (RAM_SAVE_FLAG_MEM_SIZE)",
      });
    }
    this.#flushes = k;
    this.#changed();
    for (let id = 0; id < this.channelCount; id++) {
      await this.#until(`the SYNC of multifd channel ${id} for the main channel's MULTIFD_FLUSH ${k}`, () => {
        const ch = this.#channels[id];
        if (ch === undefined) return false;
        if (ch.syncs >= k) return true;
        if (ch.ended) {
          throw new MappedRamError("ERR_TRUNCATED", {
            subject: `multifd channel ${id}`,
            offset: ch.reader.pos,
            field: "SYNC packet",
            rule: `ended after ${ch.syncs} SYNC packets, but the main channel's MULTIFD_FLUSH ${k} at ${hex(offset)} needs one more`,
          });
        }
        return false;
      });
    }
  }

  async run(timeoutMs: number): Promise<MainChannelSummary> {
    const hard = setTimeout(() => {
      this.fail(
        new MappedRamError("ERR_IO", {
          subject: "migration receive",
          rule: `did not finish within ${timeoutMs} ms (waiting for ${this.#lastWait})`,
        }),
      );
    }, timeoutMs);
    this.#idleTimer = setTimeout(() => {
      this.fail(
        new MappedRamError("ERR_IO", {
          subject: "migration receive",
          rule: `no data for ${this.idleTimeoutMs} ms while waiting for ${this.#lastWait}`,
        }),
      );
    }, this.idleTimeoutMs);
    try {
      await this.#until("the main channel to connect", () => this.#main !== undefined);
      const main = this.#main as unknown as SocketReader;
      this.#lastWait = "the main channel";
      const summary = await parseMainChannel(main, {
        onBlocks: async (blocks) => {
          await this.ram.open(blocks);
          this.#blocks = new Map(blocks.map((b) => [b.idstr, b]));
          this.#changed();
        },
        onFlush: (k, offset) => this.#flush(k, offset),
        onZeroPage: (block, address) => this.ram.zeroPages(block.idstr, [address]),
        onPage: (block, address, data) => this.ram.writePages(block.idstr, [address], data),
      });
      if (this.#failure !== undefined) throw this.#failure;
      this.#mainDone = true;
      this.#changed();
      await this.#until("every multifd channel to connect and end", () =>
        this.#channels.every((c) => c?.ended === true),
      );
      this.#finalChecks(summary);
      return summary;
    } catch (e) {
      this.fail(e);
      await Promise.allSettled([...this.#tasks]);
      throw this.#failure;
    } finally {
      clearTimeout(hard);
      clearTimeout(this.#idleTimer);
      for (const s of this.#sockets) s.destroy();
      await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
      await Promise.allSettled([...this.#tasks]);
    }
  }

  #finalChecks(summary: MainChannelSummary): void {
    for (const ch of this.#channels) {
      if (ch === undefined) continue;
      if (ch.syncs !== summary.flushes) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject: `multifd channel ${ch.stats.id}`,
          field: "SYNC packets",
          rule: `must number one per MULTIFD_FLUSH of the main channel (${summary.flushes})`,
          actual: String(ch.syncs),
        });
      }
    }
    const count = BigInt(this.#packetNums.size);
    if (count !== this.#maxPacketNum + 1n) {
      let missing = 0n;
      while (this.#packetNums.has(missing)) missing++;
      throw new MappedRamError("ERR_INVALID_VALUE", {
        subject: "multifd packets",
        field: "packet_num",
        rule: `must number the ${count} packets 0..${count - 1n} without gaps; packet_num ${missing} never arrived`,
        actual: `max ${this.#maxPacketNum}`,
      });
    }
  }

  result(
    address: string,
    output: string,
    format: "blocks" | "mapped-ram",
    blocks: ReceivedBlock[],
    summary: MainChannelSummary,
  ): ReceiveResult {
    return {
      address,
      output,
      format,
      blocks,
      channels: this.#channels.flatMap((c) => (c ? [c.stats] : [])),
      packets: this.#packetNums.size,
      main: {
        machine: summary.configuration?.machineName,
        bytes: summary.length,
        flushes: summary.flushes,
        zeroRecords: summary.zeroRecords,
        pageRecords: summary.pageRecords,
        partSections: summary.partSections,
        switchoverStart: summary.switchoverStart,
        devices: summary.devices.map((d) => d.section.idstr),
        vmdesc: summary.vmdesc !== undefined,
      },
    };
  }
}
