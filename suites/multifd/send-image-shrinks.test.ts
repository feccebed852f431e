// A RAM image that shrinks while `mrc send` runs. With the native helper the send writes its pages to the
// sockets straight from mappings of the image (page-window.ts), and a packet can wait in a socket's queue
// for a while: when the image shrinks under it, the kernel's copy from the mapping fails (EFAULT), and
// the send must end with the same ERR_IO as a read that comes up short, naming the block and where the
// image now ends, and unmap what it still held. Here the peer reads nothing until the image has shrunk.
import { rm, truncate } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { WINDOW_PAGES } from "../../src/impl/multifd/page-window.js";
import { sendMigration } from "../../src/impl/multifd/sender.js";
import { nativeIo } from "../../src/impl/native-io.js";
import { tempDir } from "../cli/fixtures.js";
import { nativeModes, useNativeMode } from "../helpers/native-mode.js";
import { stalledPeer, writeDenseImage } from "./fixtures.js";

const PAGE = 4096;
const MiB = 1024 * 1024;
const dir = await tempDir("send-image-shrinks");
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.runIf(nativeModes("pread").includes("native"))("mrc send from mapped windows", () => {
  useNativeMode("native");

  it("ends with ERR_IO naming the block and its new end when the image shrinks under queued packets", async () => {
    const io = nativeIo() as NonNullable<ReturnType<typeof nativeIo>>;
    const image = join(dir, "dense.img");
    await writeDenseImage(image, (16 * WINDOW_PAGES * PAGE) / MiB);
    const path = join(dir, "stalled.sock");
    const peer = await stalledPeer(path);
    const base = io.mappedImageBytes();
    try {
      const sent = sendMigration({
        to: `unix:${path}`,
        blocks: [{ idstr: "pc.ram", image }],
        multifdChannels: 2,
        timeoutMs: 20_000,
      }).then(
        () => undefined,
        (x: unknown) => x,
      );
      // two packets of the first window go, one per channel, and wait on sockets nobody reads (512 KiB
      // each: more than a unix socket takes); the reader waits for a channel, its window mapped
      const deadline = Date.now() + 10_000;
      while (io.mappedImageBytes() - base < WINDOW_PAGES * PAGE && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(io.mappedImageBytes() - base).toBe(WINDOW_PAGES * PAGE);
      await truncate(image, PAGE);
      for (const s of peer.held) {
        s.on("data", () => undefined);
        s.resume();
      }
      const e = await sent;
      expect(e).toBeInstanceOf(MappedRamError);
      expect((e as MappedRamError).code).toBe("ERR_IO");
      expect((e as MappedRamError).offset).toBe(BigInt(PAGE));
      expect((e as MappedRamError).message).toBe(
        'cannot read RAM image of block "pc.ram" at offset 0x1000: became shorter while it was being sent',
      );
      expect(io.mappedImageBytes() - base).toBe(0);
    } finally {
      peer.close();
    }
  }, 30_000);
});
