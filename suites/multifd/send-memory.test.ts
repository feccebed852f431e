// The sender's memory is bounded by its windows (page-window.ts), whatever the image and zero-page
// detection: with legacy detection a batch fills only with non-zero pages, so on an image with one such
// page per window a batch took 128 windows (512 MiB) before it was full, unless the batch lets go of each
// window the reader is done with. Measured as the growth of ArrayBuffer memory (windows read into
// buffers) plus the windows the native helper has mapped, sampled while the send runs; the image is a
// sparse file, so it costs no disk.
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { blockFileName } from "../../src/impl/extract.js";
import { WINDOW_PAGES } from "../../src/impl/multifd/page-window.js";
import { startReceiver } from "../../src/impl/multifd/receiver.js";
import { sendMigration } from "../../src/impl/multifd/sender.js";
import { nativeIo } from "../../src/impl/native-io.js";
import { tempDir } from "../cli/fixtures.js";
import { nativeModes, withNativeMode } from "../helpers/native-mode.js";
import { stalledPeer, writeDenseImage } from "./fixtures.js";

const PAGE = 4096;
const MiB = 1024 * 1024;
const dir = await tempDir("send-memory");
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** ArrayBuffer memory and the image windows the native helper has mapped (the send writes from those). */
function windowMemory(): number {
  return process.memoryUsage().arrayBuffers + (nativeIo()?.mappedImageBytes() ?? 0);
}

/** Samples windowMemory every 2 ms from now: the most it grew, in MiB, once stopped. */
function windowMemoryGrowth(): { stop: () => void; peakMiB: () => number } {
  const base = windowMemory();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, windowMemory());
  }, 2);
  return { stop: () => clearInterval(timer), peakMiB: () => (peak - base) / MiB };
}

describe("mrc send's memory", () => {
  for (const mode of nativeModes("pread")) {
    it(`stays bounded on an image with one non-zero page per window (legacy detection, ${mode})`, async () => {
      await withNativeMode(mode, async () => {
        const windows = 160;
        const image = join(dir, `${mode}.img`);
        const fh = await open(image, "w");
        try {
          await fh.truncate(windows * WINDOW_PAGES * PAGE);
          for (let k = 0; k < windows; k++) {
            await fh.write(new Uint8Array(PAGE).fill((k % 255) + 1), 0, PAGE, (k * WINDOW_PAGES + 7) * PAGE);
          }
        } finally {
          await fh.close();
        }
        const out = join(dir, `${mode}.out`);
        const rx = await startReceiver({
          listen: `unix:${join(dir, `${mode}.sock`)}`,
          multifdChannels: 2,
          output: out,
          timeoutMs: 60_000,
        });
        const growth = windowMemoryGrowth();
        try {
          const [, sent] = await Promise.all([
            rx.done,
            sendMigration({
              to: rx.address,
              blocks: [{ idstr: "pc.ram", image }],
              multifdChannels: 2,
              zeroPageDetection: "legacy",
            }),
          ]);
          expect(sent.channels.reduce((a, c) => a + c.normalPages, 0)).toBe(windows);
          expect(sent.main.zeroRecords).toBe(windows * WINDOW_PAGES - windows);
        } finally {
          growth.stop();
        }
        // 8 windows of 4 MiB (32 MiB) may be alive at once (~10 MiB are); 128 of them would be 512 MiB
        expect(growth.peakMiB()).toBeLessThan(64);
        const got = await readFile(join(out, blockFileName("pc.ram")));
        expect(Buffer.compare(got, await readFile(image))).toBe(0);
      });
    }, 60_000);
  }

  it("keeps at most 8 windows alive when 255 channels all wait on a peer that reads nothing", async () => {
    const image = join(dir, "dense.img");
    await writeDenseImage(image, (64 * WINDOW_PAGES * PAGE) / MiB);
    const peer = await stalledPeer(join(dir, "stalled.sock"));
    const growth = windowMemoryGrowth();
    try {
      const e = await sendMigration({
        to: `unix:${join(dir, "stalled.sock")}`,
        blocks: [{ idstr: "pc.ram", image }],
        multifdChannels: 255,
        timeoutMs: 5_000,
      }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(MappedRamError);
      expect((e as MappedRamError).message).toContain("did not finish within 5000 ms");
    } finally {
      growth.stop();
      peer.close();
    }
    // 255 packets in flight span 32 windows (~150 MiB measured without the bound); at most 8 (32 MiB,
    // ~36 MiB measured) are alive
    expect(growth.peakMiB()).toBeLessThan(64);
  }, 30_000);
});
