// The receiver against a fuzzed fake source (fast-check, FC_SEED replays): every broken migration — bad
// magic, version or ids, counts over the limit, offsets past the block, unknown blocks, cut connections, an
// extra channel, packet_num reused or missing — ends with a MappedRamError of the expected code naming the
// channel, packet and field; it never hangs (hard timeouts) and leaves no output file. Unbroken ones are
// received exactly. Unix sockets in a private directory only.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { startReceiver } from "../../src/impl/multifd/receiver.js";
import type { ZeroPageDetection } from "../../src/impl/zero-page.js";
import { fcParams } from "../helpers/fc.js";
import {
  connectionBytes,
  type FakeBlock,
  type FakeMigration,
  type FakePacket,
  fakeMigration,
  packetOffset,
  playFake,
} from "./fake-sender.js";

const IDLE_MS = 5_000;

/** What a breakage must produce. `subject` is matched as a regular expression. */
interface Expected {
  code: string;
  /** null: any field */
  fields: readonly (string | undefined)[] | null;
  subject?: RegExp;
}

type Breakage =
  | { kind: "none" }
  | { kind: "packet-field"; field: PacketField; channel: number; packet: number; value: number }
  | { kind: "offset-past-block"; channel: number; packet: number; index: number; beyond: number }
  | { kind: "unknown-block"; channel: number; packet: number }
  | { kind: "init-field"; field: "magic" | "version" | "id" | "uuid"; channel: number; value: number }
  | { kind: "extra-channel"; duplicate: boolean; id: number }
  | { kind: "extra-main" }
  | { kind: "cut"; connection: number; at: number }
  | { kind: "packet-num"; how: "reuse" | "gap"; channel: number; packet: number; other: number }
  | { kind: "drop-sync"; channel: number; which: number };

type PacketField = "magic" | "version" | "flags" | "pages_alloc" | "normal_pages" | "zero_pages";
const FIELD_AT: Record<PacketField, number> = {
  magic: 0,
  version: 4,
  flags: 8,
  pages_alloc: 12,
  normal_pages: 16,
  zero_pages: 32,
};

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, false);
const setU32 = (b: Uint8Array, at: number, v: number) =>
  new DataView(b.buffer, b.byteOffset).setUint32(at, v >>> 0, false);
const setU64 = (b: Uint8Array, at: number, v: bigint) =>
  new DataView(b.buffer, b.byteOffset).setBigUint64(at, BigInt.asUintN(64, v), false);

function dataPackets(m: FakeMigration, c: number): number[] {
  const ch = m.channels[c];
  return ch ? ch.packets.flatMap((p, i) => (p.sync ? [] : [i])) : [];
}

/**
 * Applies the breakage (indexes are taken modulo what exists) and says what the receiver must report;
 * undefined when the breakage does not apply to this migration (then it is received whole).
 */
function breakIt(m: FakeMigration, b: Breakage, blocks: readonly FakeBlock[]): Expected | undefined {
  const n = m.channels.length;
  switch (b.kind) {
    case "none":
      return undefined;
    case "packet-field": {
      const c = b.channel % n;
      const ch = m.channels[c];
      const packets = ch?.packets ?? [];
      const k = b.packet % packets.length;
      const p = packets[k] as FakePacket;
      const h = p.header.slice();
      const at = FIELD_AT[b.field];
      const old = u32(h, at);
      let value: number;
      const field: string = b.field;
      let code = "ERR_INVALID_VALUE";
      if (b.field === "magic") {
        value = old ^ (1 + (b.value % 0xffff));
        code = "ERR_BAD_MAGIC";
      } else if (b.field === "version") {
        value = 2 + (b.value % 1000);
        code = "ERR_UNSUPPORTED_VERSION";
      } else if (b.field === "flags") {
        value = (old & 1) | ((b.value % 9 === 8 ? 0x80000000 : 2 << (b.value % 9)) >>> 0);
      } else if (b.field === "pages_alloc") {
        value = 129 + (b.value % 100_000);
      } else if (b.field === "normal_pages") {
        value = u32(h, 12) + 1 + (b.value % 1000);
      } else {
        value = u32(h, 12) - u32(h, 16) + 1 + (b.value % 1000);
      }
      setU32(h, at, value);
      packets[k] = { ...p, header: h };
      return { code, fields: [field], subject: new RegExp(`^multifd channel ${c} packet ${k}$`) };
    }
    case "offset-past-block":
    case "unknown-block": {
      const c = b.channel % n;
      const data = dataPackets(m, c);
      if (data.length === 0) return undefined;
      const k = data[b.packet % data.length] as number;
      const ch = m.channels[c];
      const p = ch?.packets[k] as FakePacket;
      const h = p.header.slice();
      const name = new TextDecoder().decode(h.subarray(64, 64 + h.subarray(64).indexOf(0)));
      if (b.kind === "unknown-block") {
        h.fill(0, 64, 320);
        h.set(new TextEncoder().encode(`${name}-x`), 64);
        (ch as { packets: FakePacket[] }).packets[k] = { ...p, header: h };
        return {
          code: "ERR_UNKNOWN_BLOCK",
          fields: ["ramblock"],
          subject: new RegExp(`^multifd channel ${c} packet ${k}$`),
        };
      }
      const count = u32(h, 16) + u32(h, 32);
      const i = b.index % count;
      const size = BigInt(blocks.find((x) => x.idstr === name)?.image.length ?? 0);
      setU64(h, 320 + 8 * i, size - 4096n + BigInt(1 + b.beyond));
      (ch as { packets: FakePacket[] }).packets[k] = { ...p, header: h };
      return {
        code: "ERR_INVALID_VALUE",
        fields: [`offset[${i}]`],
        subject: new RegExp(`^multifd channel ${c} packet ${k}$`),
      };
    }
    case "init-field": {
      const c = b.channel % n;
      const ch = m.channels[c] as { init: Uint8Array };
      const init = ch.init.slice();
      if (b.field === "magic") {
        setU32(init, 0, 0x11223344 ^ (1 + (b.value % 0xffff)));
        ch.init = init;
        // neither "QEVM" nor the multifd magic: refused before it counts as a channel
        return u32(init, 0) === 0x5145564d
          ? undefined
          : { code: "ERR_BAD_MAGIC", fields: ["magic"], subject: /^connection \d+$/ };
      }
      if (b.field === "version") {
        setU32(init, 4, 2 + (b.value % 100));
        ch.init = init;
        return {
          code: "ERR_UNSUPPORTED_VERSION",
          fields: ["version"],
          subject: /^multifd channel handshake/,
        };
      }
      if (b.field === "uuid") {
        init[8 + (b.value % 16)] = 1 + (b.value % 255);
        ch.init = init;
        return { code: "ERR_INVALID_VALUE", fields: ["uuid"], subject: /^multifd channel handshake/ };
      }
      init[24] = n + (b.value % (256 - n));
      ch.init = init;
      return { code: "ERR_INVALID_VALUE", fields: ["id"], subject: /^multifd channel handshake/ };
    }
    case "extra-channel": {
      const init = connectionBytes(m, 1).slice(0, 64);
      init[24] = b.duplicate ? b.id % n : n + (b.id % (256 - n));
      m.extra.push(init);
      return { code: "ERR_INVALID_VALUE", fields: ["id"], subject: /^multifd channel/ };
    }
    case "extra-main":
      // The first "QEVM" connection to arrive is the main channel; if it is the short extra one, its end
      // comes first.
      m.extra.push(m.main.slice(0, 17));
      return { code: "ERR_UNEXPECTED_RECORD|ERR_TRUNCATED", fields: null };
    case "cut": {
      const conn = b.connection % (n + 1);
      const all = connectionBytes(m, conn);
      if (conn === 0) {
        // A cut right after the EOF byte leaves a valid stream without vmdesc.
        let at = 1 + (b.at % (all.length - 1));
        if (at === m.eofOffset + 1) at--;
        m.cut.set(0, at);
        return {
          code: "ERR_TRUNCATED",
          fields: null,
          subject: /^(connection \d+|main channel.*|configuration section)$/,
        };
      }
      // strictly inside the handshake or a packet, never at a packet boundary
      const c = conn - 1;
      const boundaries = new Set<number>([0]);
      const packets = m.channels[c]?.packets ?? [];
      for (let k = 0; k <= packets.length; k++) boundaries.add(packetOffset(m, c, k));
      let at = b.at % all.length;
      while (boundaries.has(at)) at++;
      m.cut.set(conn, at);
      return {
        code: "ERR_TRUNCATED",
        fields: ["magic", "MultiFDInit_t", "header", "page data"],
        subject:
          /^(connection \d+|multifd channel handshake on connection \d+|multifd channel \d+ packet \d+)$/,
      };
    }
    case "packet-num": {
      const c = b.channel % n;
      const ch = m.channels[c] as { packets: FakePacket[] };
      const k = b.packet % ch.packets.length;
      const p = ch.packets[k] as FakePacket;
      const h = p.header.slice();
      const total = m.channels.reduce((s, x) => s + x.packets.length, 0);
      const mine = new DataView(h.buffer).getBigUint64(24, false);
      let v = BigInt(b.other % total);
      if (b.how === "reuse" && v === mine) v = (v + 1n) % BigInt(total);
      if (b.how === "gap") v = BigInt(total + (b.other % 1000));
      setU64(h, 24, v);
      ch.packets[k] = { ...p, header: h };
      if (b.how === "reuse" && total === 1) return undefined;
      return { code: "ERR_INVALID_VALUE", fields: ["packet_num"] };
    }
    case "drop-sync": {
      const c = b.channel % n;
      const ch = m.channels[c] as { packets: FakePacket[] };
      const syncs = ch.packets.flatMap((p, i) => (p.sync ? [i] : []));
      ch.packets.splice(syncs[b.which % syncs.length] as number, 1);
      // the main channel waits for it (and the channel ends too early), or the counts differ at the end
      return {
        code: "ERR_TRUNCATED|ERR_INVALID_VALUE",
        fields: ["SYNC packet", "SYNC packets", "packet_num"],
      };
    }
  }
}

const breakage: fc.Arbitrary<Breakage> = fc.oneof(
  fc.constant<Breakage>({ kind: "none" }),
  fc.record({
    kind: fc.constant("packet-field" as const),
    field: fc.constantFrom<PacketField>(
      "magic",
      "version",
      "flags",
      "pages_alloc",
      "normal_pages",
      "zero_pages",
    ),
    channel: fc.nat(7),
    packet: fc.nat(50),
    value: fc.nat(),
  }),
  fc.record({
    kind: fc.constant("offset-past-block" as const),
    channel: fc.nat(7),
    packet: fc.nat(50),
    index: fc.nat(127),
    beyond: fc.nat(1 << 20),
  }),
  fc.record({ kind: fc.constant("unknown-block" as const), channel: fc.nat(7), packet: fc.nat(50) }),
  fc.record({
    kind: fc.constant("init-field" as const),
    field: fc.constantFrom("magic" as const, "version" as const, "id" as const, "uuid" as const),
    channel: fc.nat(7),
    value: fc.nat(),
  }),
  fc.record({ kind: fc.constant("extra-channel" as const), duplicate: fc.boolean(), id: fc.nat(255) }),
  fc.constant<Breakage>({ kind: "extra-main" }),
  fc.record({ kind: fc.constant("cut" as const), connection: fc.nat(8), at: fc.nat() }),
  fc.record({
    kind: fc.constant("packet-num" as const),
    how: fc.constantFrom("reuse" as const, "gap" as const),
    channel: fc.nat(7),
    packet: fc.nat(50),
    other: fc.nat(),
  }),
  fc.record({ kind: fc.constant("drop-sync" as const), channel: fc.nat(7), which: fc.nat(2) }),
);

/** A page generator from a few numbers: zero, almost zero, or filled. */
function image(pages: number, salt: number): Uint8Array {
  const img = new Uint8Array(pages * 4096);
  for (let p = 0; p < pages; p++) {
    const kind = (p * 7 + salt) % 5;
    if (kind === 0 || kind === 3) continue;
    if (kind === 1) img[p * 4096 + 4095] = 1 + (salt % 255);
    else img.fill((p + salt) % 256 || 1, p * 4096, p * 4096 + 64);
  }
  return img;
}

const scenario = fc.record({
  mainPages: fc.integer({ min: 1, max: 300 }),
  vgaPages: fc.integer({ min: 1, max: 40 }),
  salt: fc.nat(1000),
  channels: fc.integer({ min: 1, max: 4 }),
  zpd: fc.constantFrom<ZeroPageDetection>("none", "legacy", "multifd"),
  mig: fc.boolean(),
  order: fc.nat(1000),
  breakage,
});

describe("mrc receive against a fuzzed fake source", () => {
  let root: string;
  let run = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "mrc-rx-fuzz-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("ends every broken migration with a typed error and no output; receives unbroken ones exactly", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const dir = join(root, `run-${run++}`);
        const blocks: FakeBlock[] = [
          { idstr: "pc.ram", image: image(Math.max(s.mainPages, s.vgaPages), s.salt) },
          { idstr: "vga.vram", image: image(Math.min(s.mainPages, s.vgaPages), s.salt + 1) },
        ];
        const m = fakeMigration(blocks, s.channels, s.zpd);
        const expected = breakIt(m, s.breakage, blocks);
        const output = s.mig ? join(dir, "out.mig") : join(dir, "out");
        const started = performance.now();
        const rx = await startReceiver({
          listen: `unix:${join(root, `rx-${run}.sock`)}`,
          multifdChannels: s.channels,
          output,
          timeoutMs: 10_000,
          idleTimeoutMs: IDLE_MS,
        });
        const count = 1 + s.channels + m.extra.length;
        const order = [...Array(count).keys()];
        // a rotation of the connection order: the receiver must not depend on it
        const rot = s.order % count;
        const played = playFake(m, { path: rx.address.slice(5) }, [
          ...order.slice(rot),
          ...order.slice(0, rot),
        ]);
        const outcome = await rx.done.then(
          (r) => ({ ok: true as const, r }),
          (e: unknown) => ({ ok: false as const, e }),
        );
        await played;
        // settled on its own, well before the idle timeout would have ended it
        expect(performance.now() - started).toBeLessThan(IDLE_MS);
        if (expected === undefined) {
          if (!outcome.ok) throw outcome.e;
          if (!s.mig) {
            for (const b of blocks) {
              const got = new Uint8Array(await readFile(join(output, `${b.idstr}.bin`)));
              expect(Buffer.from(got).equals(b.image)).toBe(true);
            }
          } else {
            expect(await readdir(dir)).toEqual(["out.mig"]);
          }
          return;
        }
        expect(outcome.ok).toBe(false);
        if (outcome.ok) return;
        const e = outcome.e;
        expect(e).toBeInstanceOf(MappedRamError);
        const err = e as MappedRamError;
        expect(expected.code.split("|")).toContain(err.code);
        if (expected.fields !== null) expect(expected.fields).toContain(err.field);
        if (expected.subject) expect(err.subject).toMatch(expected.subject);
        expect(err.message.startsWith(`cannot decode ${err.subject}`)).toBe(true);
        // nothing half-written stays: the output directory (or the .mig's directory) is empty
        expect(await readdir(s.mig ? dir : output).catch(() => [])).toEqual([]);
      }),
      fcParams(80),
    );
  }, 120_000);
});
