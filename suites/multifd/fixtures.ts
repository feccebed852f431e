// Shared RAM images and QEMU ends for the packets-mode suites.
import { open } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { viewOf } from "../../src/impl/bytes.js";
import type { ZeroPageDetection } from "../../src/impl/zero-page.js";
import {
  type MigrationWaitResult,
  migrate,
  migrateIncoming,
  setCapabilities,
  setParameters,
  UNLIMITED_BANDWIDTH,
  waitForMigration,
  withQemu,
} from "../../src/qemu/index.js";
import { suiteQemu } from "../helpers/qemu.js";

/** Both ends of a connection to a unix socket at `path`; `close` destroys the accepted end and the server. */
export async function unixSocketPair(
  path: string,
): Promise<{ client: Socket; accepted: Socket; close: () => void }> {
  let accepted: Socket | undefined;
  const server = createServer((s) => {
    accepted = s;
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = createConnection({ path });
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));
  while (accepted === undefined) await new Promise((r) => setTimeout(r, 1));
  const end = accepted;
  return {
    client,
    accepted: end,
    close: () => {
      end.destroy();
      server.close();
    },
  };
}

/**
 * A RAM image of `mib` MiB of 0x5a (no zero page), written a MiB at a time: a large buffer freed while a
 * send runs would hide what the send allocates.
 */
export async function writeDenseImage(path: string, mib: number): Promise<void> {
  const fh = await open(path, "w");
  try {
    const chunk = new Uint8Array(1024 * 1024).fill(0x5a);
    for (let i = 0; i < mib; i++) await fh.write(chunk, 0, chunk.length, i * chunk.length);
  } finally {
    await fh.close();
  }
}

/**
 * A peer at unix socket `path` that accepts every connection and reads nothing (each accepted socket
 * paused, in `held`), so a sender's writes back up; `close` destroys them and the server.
 */
export async function stalledPeer(path: string): Promise<{ held: Socket[]; close: () => void }> {
  const held: Socket[] = [];
  const server = createServer((s) => {
    held.push(s);
    s.pause();
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    held,
    close: () => {
      for (const s of held) s.destroy();
      server.close();
    },
  };
}

/**
 * `pages` × 4 KiB: page p is zero when p ≡ 0 (mod 3), except runs that make whole zero and whole non-zero
 * batches; p ≡ 1 has its first 100 bytes = p mod 251 + 1; p ≡ 2 only its last byte 0xaa (a page that is
 * almost zero); every 7th page also carries its number (LE u64) at byte 8. Pages 256-383 are all zero,
 * pages 384-511 all 0x5a.
 */
export function patternImage(pages: number): Uint8Array {
  const img = new Uint8Array(pages * 4096);
  const view = viewOf(img);
  for (let p = 0; p < pages; p++) {
    const base = p * 4096;
    if (p >= 256 && p < 384) continue;
    if (p >= 384 && p < 512) {
      img.fill(0x5a, base, base + 4096);
      continue;
    }
    if (p % 3 === 0) continue;
    if (p % 3 === 1) img.fill((p % 251) + 1, base, base + 100);
    else img[base + 4095] = 0xaa;
    if (p % 7 === 0) view.setBigUint64(base + 8, BigInt(p), true);
  }
  return img;
}

/** A stopped `-M none` QEMU source whose RAM is `image` migrates to `uri` with multifd; its final state. */
export async function migrateFromQemu(opts: {
  image: string;
  size: number;
  channels: number;
  /** QEMU's default (multifd) when not given */
  zpd?: ZeroPageDetection;
  uri: string;
  timeoutMs: number;
}): Promise<MigrationWaitResult> {
  const { value } = await withQemu(
    {
      binary: suiteQemu(),
      machine: "none",
      memoryBackend: "r",
      memoryBackends: [{ id: "r", size: opts.size, memPath: opts.image }],
      timeoutMs: opts.timeoutMs,
    },
    async (q) => {
      await setCapabilities(q, { multifd: true });
      await setParameters(q, {
        "multifd-channels": opts.channels,
        ...(opts.zpd === undefined ? {} : { "zero-page-detection": opts.zpd }),
        "max-bandwidth": UNLIMITED_BANDWIDTH,
      });
      await migrate(q, opts.uri);
      return waitForMigration(q, opts.timeoutMs);
    },
  );
  return value;
}

/**
 * A `-M none` QEMU destination (RAM: the file `dest`) listening on `listen` with multifd; `send(to)` runs
 * our side against the address it really listens on (the port, for tcp port 0). Returns what `send`
 * returned and QEMU's final state.
 */
export async function migrateIntoQemu<T>(
  opts: { dest: string; size: number; channels: number; listen: string; timeoutMs: number },
  send: (to: string) => Promise<T>,
): Promise<{ sent: T; done: MigrationWaitResult }> {
  const { value } = await withQemu(
    {
      binary: suiteQemu(),
      machine: "none",
      memoryBackend: "r",
      memoryBackends: [{ id: "r", size: opts.size, memPath: opts.dest }],
      incoming: true,
      timeoutMs: opts.timeoutMs,
    },
    async (q) => {
      await setCapabilities(q, { multifd: true });
      await setParameters(q, { "multifd-channels": opts.channels });
      await migrateIncoming(q, opts.listen, { exitOnError: false });
      let to = opts.listen;
      if (opts.listen.startsWith("tcp:")) {
        const info = await q.execute("query-migrate");
        const addrs = info["socket-address"] as Array<{ port: string }> | undefined;
        to = `tcp:127.0.0.1:${addrs?.[0]?.port}`;
      }
      const sent = await send(to);
      return { sent, done: await waitForMigration(q, opts.timeoutMs) };
    },
  );
  return value;
}
