// Packets mode against a real QEMU 10.0.2, both ways, for multifd-channels 1, 2, 4 and every
// zero-page-detection mode: `mrc send` into a QEMU destination (its RAM, a share=on file, must equal the
// image) and a QEMU source into `mrc receive` (the block file must equal the image). Loopback TCP and unix
// sockets only; every QEMU runs under a hard timeout and is reaped (describeQemu checks).

import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { extractBlocks } from "../../src/impl/extract.js";
import { encodeMultiFDInit, sendMigration, startReceiver } from "../../src/impl/multifd/index.js";
import { FileSource } from "../../src/impl/source.js";
import type { ZeroPageDetection } from "../../src/impl/zero-page.js";
import {
  migrateIncoming,
  QemuProcess,
  qemuLoadFile,
  qemuSaveFile,
  setCapabilities,
  setParameters,
} from "../../src/qemu/index.js";
import { describeQemu, expectNoQemuLeft, suiteQemu } from "../helpers/qemu.js";
import { migrateFromQemu, migrateIntoQemu, patternImage } from "./fixtures.js";

const PAGES = 1024; // 4 MiB: 8 full batches of 128 pages
const RAM_SIZE = PAGES * 4096;
const CHANNELS = [1, 2, 4] as const;
const MODES: readonly ZeroPageDetection[] = ["none", "legacy", "multifd"];
/** Per-process limit for QEMU and for our side of each migration. */
const LIMIT_MS = 20_000;

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * `bytes` without any occurrence of `pattern`. ram_save_iterate ends a PART section after 50 ms
 * (MAX_WAIT), so on a slow machine QEMU may split its bulk round over more PART sections than we write:
 * comparisons drop the section boundaries that such a split adds.
 */
function without(bytes: Uint8Array, pattern: Uint8Array): Uint8Array {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = b.indexOf(pattern, from); at >= 0; at = b.indexOf(pattern, from)) {
    parts.push(b.subarray(from, at));
    from = at + pattern.length;
  }
  parts.push(b.subarray(from));
  return new Uint8Array(Buffer.concat(parts));
}
const hexBytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));
/** RAM EOS, footer of section 1, SECTION_PART header of section 1: where one PART ends and the next begins. */
const PART_BOUNDARY = hexBytes("0000000000000010 7e 00000001 02 00000001");
/** An empty RAM PART section of a mapped-ram file (section 1). */
const EMPTY_PART = hexBytes("02 00000001 0000000000000010 7e 00000001");

/** Accepts `count` connections on a unix socket and keeps every byte each one sends until it closes. */
async function capture(path: string, count: number): Promise<{ done: Promise<Uint8Array[]>; close(): void }> {
  const conns: Uint8Array[] = [];
  const sockets: Socket[] = [];
  let ended = 0;
  let finish: (v: Uint8Array[]) => void = () => undefined;
  const done = new Promise<Uint8Array[]>((resolve) => {
    finish = resolve;
  });
  const server = createServer((s) => {
    sockets.push(s);
    const i = conns.length;
    conns.push(new Uint8Array(0));
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    s.on("error", () => undefined);
    s.on("end", () => {
      conns[i] = new Uint8Array(Buffer.concat(parts));
      s.end();
      if (++ended === count) finish(conns);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    done,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * A captured migration, normalised where QEMU's threads decide: the main channel as is; per multifd
 * connection its channel id and SYNC count; every packet with packet_num zeroed, as a sorted multiset of
 * hashes (which channel carries which batch, and the numbering, are scheduling); the packet_nums seen.
 */
function normalise(conns: Uint8Array[]) {
  const isMain = (c: Uint8Array) => c[0] === 0x51 && c[1] === 0x45 && c[2] === 0x56 && c[3] === 0x4d;
  const main = conns.filter(isMain);
  const channels: Array<{ id: number; syncs: number }> = [];
  const packets: string[] = [];
  const nums: bigint[] = [];
  for (const c of conns.filter((x) => !isMain(x))) {
    const view = new DataView(c.buffer, c.byteOffset, c.byteLength);
    let syncs = 0;
    let at = 64;
    while (at < c.length) {
      const header = c.slice(at, at + 1344);
      const size = view.getUint32(at + 20, false);
      nums.push(view.getBigUint64(at + 24, false));
      if (view.getUint32(at + 8, false) & 1) syncs++;
      header.fill(0, 24, 32);
      const h = createHash("sha256")
        .update(header)
        .update(c.subarray(at + 1344, at + 1344 + size));
      packets.push(h.digest("hex"));
      at += 1344 + size;
    }
    channels.push({ id: c[24] as number, syncs });
  }
  channels.sort((a, b) => a.id - b.id);
  packets.sort();
  nums.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { main, channels, packets, nums };
}

describeQemu("packets mode with QEMU 10.0.2", () => {
  let work: string;
  let image: string;
  const ram = patternImage(PAGES);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "mrc-multifd-qemu-"));
    image = join(work, "ram.img");
    await writeFile(image, ram);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });
  afterEach(async () => {
    await expectNoQemuLeft();
  });

  for (const [i, channels] of CHANNELS.entries()) {
    for (const [j, zpd] of MODES.entries()) {
      const transport = (i + j) % 2 === 0 ? "tcp" : "unix";
      const tag = `${channels} channel(s), zero-page-detection ${zpd}, ${transport}`;

      it(`mrc send → QEMU destination: ${tag}`, async () => {
        const dest = join(work, `dest-${channels}-${zpd}.img`);
        await writeFile(dest, new Uint8Array(0));
        await truncate(dest, RAM_SIZE);
        const listen =
          transport === "tcp" ? "tcp:127.0.0.1:0" : `unix:${join(work, `in-${channels}-${zpd}.sock`)}`;
        const value = await migrateIntoQemu(
          { dest, size: RAM_SIZE, channels, listen, timeoutMs: LIMIT_MS },
          (to) =>
            sendMigration({
              to,
              blocks: [{ idstr: "r", image }],
              multifdChannels: channels,
              zeroPageDetection: zpd,
              timeoutMs: LIMIT_MS,
            }),
        );
        expect(value.done.errorDesc).toBeUndefined();
        expect(value.done.status).toBe("completed");
        // 3 syncs (setup, end of the bulk round, completion) on every channel; packet_num 0..n-1
        expect(value.sent.main.flushes).toBe(3);
        expect(value.sent.channels.map((c) => c.syncPackets)).toEqual(Array(channels).fill(3));
        expect(firstDifference(new Uint8Array(await readFile(dest)), ram)).toBe(-1);
      });

      it(`QEMU source → mrc receive: ${tag}`, async () => {
        const out = join(work, `recv-${channels}-${zpd}`);
        const listen =
          transport === "tcp" ? "tcp:127.0.0.1:0" : `unix:${join(work, `out-${channels}-${zpd}.sock`)}`;
        const rx = await startReceiver({
          listen,
          multifdChannels: channels,
          output: out,
          timeoutMs: LIMIT_MS,
          idleTimeoutMs: LIMIT_MS,
        });
        try {
          const value = await migrateFromQemu({
            image,
            size: RAM_SIZE,
            channels,
            zpd,
            uri: rx.address,
            timeoutMs: LIMIT_MS,
          });
          expect(value.errorDesc).toBeUndefined();
          expect(value.status).toBe("completed");
        } catch (e) {
          rx.abort(e);
          throw e;
        }
        const got = await rx.done;
        expect(got.blocks.map((b) => b.idstr)).toEqual(["r"]);
        expect(got.channels.map((c) => c.id).sort()).toEqual([...Array(channels).keys()]);
        // 3 when ram_save_iterate runs the bulk round (one PART), 2 when migration_iteration_run goes
        // straight to completion and ram_save_complete sends every page (no PART): timing decides.
        expect(got.main.flushes).toBeGreaterThanOrEqual(2);
        expect(got.channels.map((c) => c.syncPackets)).toEqual(Array(channels).fill(got.main.flushes));
        expect(got.main.zeroRecords > 0).toBe(zpd === "legacy");
        const zeroInPackets = got.channels.reduce((s, c) => s + c.zeroPages, 0);
        expect(zeroInPackets > 0).toBe(zpd === "multifd");
        expect(firstDifference(new Uint8Array(await readFile(join(out, "r.bin"))), ram)).toBe(-1);
      });
    }
  }

  for (const [channels, zpd] of [
    [1, "none"],
    [2, "legacy"],
    [4, "multifd"],
  ] as const) {
    it(`mrc send puts on the wire what QEMU's source does: ${channels} channel(s), ${zpd}`, async () => {
      // QEMU's own layout depends on timing: usually the bulk round is one PART section (3 syncs), sometimes
      // the migration completes at once and ram_save_complete sends every page (no PART, 2 syncs). We write
      // the usual one; capture QEMU until it writes that too (a few tries).
      let theirs: ReturnType<typeof normalise> | undefined;
      for (let attempt = 0; attempt < 5 && theirs === undefined; attempt++) {
        const sock = join(work, `wire-q-${channels}-${attempt}.sock`);
        const fromQemu = await capture(sock, channels + 1);
        try {
          const done = await migrateFromQemu({
            image,
            size: RAM_SIZE,
            channels,
            zpd,
            uri: `unix:${sock}`,
            timeoutMs: LIMIT_MS,
          });
          expect(done.status).toBe("completed");
          const got = normalise(await fromQemu.done);
          if (got.channels.every((c) => c.syncs === 3)) theirs = got;
        } finally {
          fromQemu.close();
        }
      }
      if (theirs === undefined) throw new Error("QEMU never put the bulk round in a PART section in 5 tries");
      const oursSock = join(work, `wire-o-${channels}.sock`);
      const fromUs = await capture(oursSock, channels + 1);
      try {
        await sendMigration({
          to: `unix:${oursSock}`,
          blocks: [{ idstr: "r", image }],
          multifdChannels: channels,
          zeroPageDetection: zpd,
          timeoutMs: LIMIT_MS,
        });
        const ours = normalise(await fromUs.done);
        expect(ours.main.length).toBe(1);
        const main = (c: Uint8Array | undefined) => without(c ?? new Uint8Array(0), PART_BOUNDARY);
        expect(firstDifference(main(ours.main[0]), main(theirs.main[0]))).toBe(-1);
        expect(ours.channels).toEqual(theirs.channels);
        expect(ours.packets).toEqual(theirs.packets);
        expect(ours.nums).toEqual(theirs.nums);
        expect(ours.nums).toEqual([...Array(ours.nums.length).keys()].map(BigInt));
      } finally {
        fromUs.close();
      }
    });
  }

  it("QEMU 10.0.2 lets a channel id equal to multifd-channels through and crashes (mrc receive refuses it)", async () => {
    // multifd_recv_initial_packet tests `id > migrate_multifd_channels()`, then indexes params[id].
    const dest = join(work, "dest-id.img");
    await writeFile(dest, new Uint8Array(0));
    await truncate(dest, RAM_SIZE);
    const sock = join(work, "id.sock");
    const q = await QemuProcess.start({
      binary: suiteQemu(),
      machine: "none",
      memoryBackend: "r",
      memoryBackends: [{ id: "r", size: RAM_SIZE, memPath: dest }],
      incoming: true,
      timeoutMs: LIMIT_MS,
    });
    let status: string | undefined;
    try {
      await setCapabilities(q, { multifd: true });
      await setParameters(q, { "multifd-channels": 2 });
      await migrateIncoming(q, `unix:${sock}`, { exitOnError: false });
      const s = createConnection({ path: sock });
      s.on("error", () => undefined);
      await new Promise<void>((resolve) => s.once("connect", () => resolve()));
      s.write(encodeMultiFDInit({ id: 2 }));
      await q.waitForExit(3_000);
      if (!q.exited) status = (await q.execute("query-migrate")).status;
      s.destroy();
    } finally {
      const run = await q.stop();
      const v = suiteQemu().version;
      if (v.major === 10 && v.minor === 0) expect(run.signal).toBe("SIGSEGV");
      else expect(run.signal === "SIGSEGV" || status === "failed").toBe(true);
    }
  });

  it("QEMU source → mrc receive -o FILE.mig: QEMU loads it and it equals QEMU's own mapped-ram file", async () => {
    const mig = join(work, "received.mig");
    const rx = await startReceiver({
      listen: `unix:${join(work, "mig.sock")}`,
      multifdChannels: 2,
      output: mig,
      timeoutMs: LIMIT_MS,
      idleTimeoutMs: LIMIT_MS,
    });
    try {
      const done = await migrateFromQemu({
        image,
        size: RAM_SIZE,
        channels: 2,
        uri: rx.address,
        timeoutMs: LIMIT_MS,
      });
      expect(done.status).toBe("completed");
    } catch (e) {
      rx.abort(e);
      throw e;
    }
    const got = await rx.done;
    expect(got.format).toBe("mapped-ram");

    const loaded = await qemuLoadFile({
      binary: suiteQemu(),
      machine: "none",
      memoryBackend: "r",
      capabilities: { "mapped-ram": true },
      backends: [{ id: "r", size: RAM_SIZE }],
      file: mig,
      timeoutMs: LIMIT_MS,
    });
    try {
      expect(loaded.errorDesc).toBeUndefined();
      expect(loaded.ok).toBe(true);
      const path = loaded.backends[0]?.path as string;
      expect(firstDifference(new Uint8Array(await readFile(path)), ram)).toBe(-1);
    } finally {
      await loaded.cleanup();
    }

    // QEMU's own mapped-ram file of the same stopped VM (one empty PART for 4 MiB at unlimited bandwidth).
    const qemuFile = join(work, "qemu.mig");
    const saved = await qemuSaveFile({
      binary: suiteQemu(),
      machine: "none",
      memoryBackend: "r",
      capabilities: { "mapped-ram": true },
      backends: [{ id: "r", path: image }],
      file: qemuFile,
      timeoutMs: LIMIT_MS,
    });
    expect(saved.ok).toBe(true);
    const ours = new Uint8Array(await readFile(mig));
    const theirs = new Uint8Array(await readFile(qemuFile));
    expect(firstDifference(without(ours, EMPTY_PART), without(theirs, EMPTY_PART))).toBe(-1);

    // And `mrc extract` of it gives the image back.
    const src = await FileSource.open(mig);
    try {
      const ex = await extractBlocks(src, join(work, "extracted"));
      expect(ex.blocks.map((b) => b.idstr)).toEqual(["r"]);
    } finally {
      await src.close();
    }
    expect(firstDifference(new Uint8Array(await readFile(join(work, "extracted", "r.bin"))), ram)).toBe(-1);
  });
});
