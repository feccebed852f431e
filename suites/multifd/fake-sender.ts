// A fake packets-mode source for the receiver suites: builds the connections a QEMU 10.0.2 source opens
// (main channel + N multifd channels, laid out as observed: SYNC at setup, after the bulk round and at
// completion; batches of up to 128 pages of one block, handed round robin; one global packet_num), lets a
// test break them, and plays them over real sockets. No randomness of its own: every choice is a parameter.
import { createConnection, type Socket } from "node:net";
import { QEMU_VM_SECTION_END, QEMU_VM_SECTION_PART } from "../../src/impl/constants.js";
import { MACHINE_NONE, vmdescJson } from "../../src/impl/machine.js";
import {
  encodeMultiFDInit,
  encodeMultiFDPacket,
  encodeSyncPacket,
  MULTIFD_PAGE_COUNT,
} from "../../src/impl/multifd/packet.js";
import { MainChannelComposer } from "../../src/impl/multifd/precopy-compose.js";
import { partitionZeroPages } from "../../src/impl/multifd/sender.js";
import { isZeroPage, type ZeroPageDetection } from "../../src/impl/zero-page.js";

export interface FakeBlock {
  idstr: string;
  image: Uint8Array;
}

export interface FakePacket {
  /** 1344 header bytes */
  header: Uint8Array;
  payload: Uint8Array;
  sync: boolean;
}

export interface FakeChannel {
  init: Uint8Array;
  packets: FakePacket[];
}

export interface FakeMigration {
  main: Uint8Array;
  /** offset of the EOF byte in `main` */
  eofOffset: number;
  channels: FakeChannel[];
  /** more connections, each its raw bytes */
  extra: Uint8Array[];
  /** per connection (main, channel 0..N-1, extra...): send only this many bytes, then close */
  cut: Map<number, number>;
}

/** The connections of a QEMU 10.0.2 source migrating `blocks` (already in RAM-list order) of a stopped VM. */
export function fakeMigration(
  blocks: readonly FakeBlock[],
  channels: number,
  zpd: ZeroPageDetection,
): FakeMigration {
  const main = new MainChannelComposer(MACHINE_NONE.ramSection);
  const configuration = { machineName: "none", capabilities: [] };
  const devices = MACHINE_NONE.devices("prelaunch");
  const chans: FakeChannel[] = Array.from({ length: channels }, (_, id) => ({
    init: encodeMultiFDInit({ id }),
    packets: [],
  }));
  let packetNum = 0n;
  let next = 0;
  const sync = () => {
    for (const c of chans)
      c.packets.push({ header: encodeSyncPacket(packetNum++), payload: new Uint8Array(0), sync: true });
    main.multifdFlush();
  };
  main
    .header(configuration)
    .ramStart(blocks.map((b) => ({ idstr: b.idstr, usedLength: BigInt(b.image.length) })));
  sync();
  main.ramEos().ramIterate(QEMU_VM_SECTION_PART);
  for (const b of blocks) {
    let offsets: bigint[] = [];
    let data: Uint8Array[] = [];
    const flush = () => {
      if (offsets.length === 0) return;
      const normal =
        zpd === "multifd" ? partitionZeroPages(offsets, data, data.map(isZeroPage)) : offsets.length;
      const payload = new Uint8Array(normal * 4096);
      for (let i = 0; i < normal; i++) payload.set(data[i] as Uint8Array, i * 4096);
      const header = encodeMultiFDPacket({
        flags: 0,
        pagesAlloc: MULTIFD_PAGE_COUNT,
        packetNum: packetNum++,
        ramblock: b.idstr,
        normal: offsets.slice(0, normal),
        zero: offsets.slice(normal),
      });
      (chans[next] as FakeChannel).packets.push({ header, payload, sync: false });
      next = (next + 1) % channels;
      offsets = [];
      data = [];
    };
    for (let p = 0; p < b.image.length / 4096; p++) {
      const page = b.image.subarray(p * 4096, (p + 1) * 4096);
      if (zpd === "legacy" && page.every((x) => x === 0)) {
        main.zeroPage(b.idstr, BigInt(p) * 4096n);
        continue;
      }
      offsets.push(BigInt(p) * 4096n);
      data.push(page);
      if (offsets.length === MULTIFD_PAGE_COUNT) flush();
    }
    flush();
  }
  sync();
  main.ramEos().switchoverStart().ramIterate(QEMU_VM_SECTION_END);
  sync();
  main.ramEos();
  for (const d of devices) main.device(d);
  const beforeEof = main.take();
  main.eof(vmdescJson(configuration, devices));
  const rest = main.take();
  const bytes = new Uint8Array(beforeEof.length + rest.length);
  bytes.set(beforeEof, 0);
  bytes.set(rest, beforeEof.length);
  return { main: bytes, eofOffset: beforeEof.length, channels: chans, extra: [], cut: new Map() };
}

/** The bytes of connection `i` (0 main, 1..N channels, then extras). */
export function connectionBytes(m: FakeMigration, i: number): Uint8Array {
  if (i === 0) return m.main;
  const ch = m.channels[i - 1];
  if (ch === undefined) return m.extra[i - 1 - m.channels.length] as Uint8Array;
  const parts = [ch.init, ...ch.packets.flatMap((p) => [p.header, p.payload])];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Byte offset of packet `k` of channel `c` inside that channel's connection. */
export function packetOffset(m: FakeMigration, c: number, k: number): number {
  const ch = m.channels[c] as FakeChannel;
  let at = ch.init.length;
  for (let i = 0; i < k; i++)
    at += (ch.packets[i] as FakePacket).header.length + (ch.packets[i] as FakePacket).payload.length;
  return at;
}

/**
 * Opens every connection (in `order`, a permutation of the connection indexes), writes its bytes (cut
 * where asked) and closes it. Write errors (the receiver hung up) are ignored. Returns when all are closed.
 */
export async function playFake(
  m: FakeMigration,
  to: { path: string },
  order: readonly number[],
): Promise<void> {
  const sockets: Socket[] = [];
  try {
    for (const i of order) {
      const s = createConnection(to);
      s.on("error", () => undefined);
      sockets.push(s);
      await new Promise<void>((resolve) => {
        s.once("connect", () => resolve());
        s.once("close", () => resolve());
      });
      const all = connectionBytes(m, i);
      const n = m.cut.get(i);
      s.end(n === undefined ? all : all.subarray(0, n));
    }
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.closed) resolve();
            else s.once("close", () => resolve());
          }),
      ),
    );
  } finally {
    for (const s of sockets) s.destroy();
  }
}
