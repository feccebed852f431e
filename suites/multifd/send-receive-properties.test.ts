// Packets mode end to end, fuzzed (fast-check, FC_SEED replays): our sender (`mrc send`) against our
// receiver (`mrc receive`) over a unix socket, for random blocks (long and odd names, sizes off 64-page
// multiples, zero runs), channel counts and zero-page detection. The receiver must rebuild exactly the
// RAM that was sent: block files equal to the images, or a mapped-ram file byte-identical to what the
// reference writer makes of the same images (no multifd, one PART).
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockFileName } from "../../src/impl/extract.js";
import { WINDOW_PAGES } from "../../src/impl/multifd/page-window.js";
import { startReceiver } from "../../src/impl/multifd/receiver.js";
import { sendMigration } from "../../src/impl/multifd/sender.js";
import { writeMigrationFile } from "../../src/impl/save.js";
import { fcParams } from "../helpers/fc.js";
import { nativeModes, withNativeMode } from "../helpers/native-mode.js";
import { blocksArb, imageOf, zpdArb } from "../helpers/scenario.js";

const scenarioArb = fc.record({
  blocks: blocksArb(3, 200),
  channels: fc.integer({ min: 1, max: 8 }),
  zpd: zpdArb,
  mig: fc.boolean(),
});

describe("mrc send -> mrc receive", () => {
  let root: string;
  let run = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "mrc-sendrecv-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("receives the same RAM that was sent", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const dir = join(root, `run-${run++}`);
        const images: Array<{ idstr: string; image: string; bytes: Uint8Array }> = [];
        for (const [i, b] of s.blocks.entries()) {
          const bytes = imageOf(b.pages);
          const image = join(root, `run-${run}-b${i}.img`);
          await writeFile(image, bytes);
          images.push({ idstr: b.idstr, image, bytes });
        }
        const output = s.mig ? join(dir, "out.mig") : join(dir, "out");
        const rx = await startReceiver({
          listen: `unix:${join(root, `rx-${run}.sock`)}`,
          multifdChannels: s.channels,
          output,
          timeoutMs: 20_000,
          idleTimeoutMs: 10_000,
        });
        const sent = sendMigration({
          to: rx.address,
          blocks: images.map(({ idstr, image }) => ({ idstr, image })),
          multifdChannels: s.channels,
          zeroPageDetection: s.zpd,
          timeoutMs: 20_000,
        }).catch((e: unknown) => {
          rx.abort(e);
          throw e;
        });
        const [received] = await Promise.all([rx.done, sent]);
        expect(received.channels.length).toBe(s.channels);
        if (!s.mig) {
          expect((await readdir(output)).sort()).toEqual(images.map((i) => blockFileName(i.idstr)).sort());
          for (const i of images) {
            const got = await readFile(join(output, blockFileName(i.idstr)));
            expect(Buffer.compare(got, i.bytes), `block ${JSON.stringify(i.idstr)}`).toBe(0);
          }
          return;
        }
        const reference = join(dir, "reference.mig");
        await writeMigrationFile({
          path: reference,
          blocks: images.map(({ idstr, image }) => ({ idstr, image })),
          partSections: 1,
        });
        expect(Buffer.compare(await readFile(output), await readFile(reference))).toBe(0);
        expect((await readdir(dir)).sort()).toEqual(["out.mig", "reference.mig"]);
      }),
      fcParams(20, 30_000),
    );
  }, 120_000);

  // The sender reads an image a window of WINDOW_PAGES pages at a time (page-window.ts: mapped by the
  // native helper, else pread), so batches of 128 pages cross windows, and so do runs of zero pages.
  // Blocks of several windows, an odd tail, both ways of reading, every zero-page detection: the RAM
  // received is the image, and the sender's counts are those of the image's pages.
  for (const mode of nativeModes("pread")) {
    for (const zpd of ["none", "legacy", "multifd"] as const) {
      it(`sends blocks of several windows (${mode}, zero-page-detection ${zpd})`, async () => {
        await withNativeMode(mode, async () => {
          const dir = join(root, `windows-${mode}-${zpd}`);
          // page p is zero when p % 7 < 3, or in [1000, 1100) (a zero run across the first window's end)
          const isZero = (p: number) => p % 7 < 3 || (p >= 1000 && p < 1100);
          const sizes = [2 * WINDOW_PAGES + 77, WINDOW_PAGES + 1];
          const images = await Promise.all(
            sizes.map(async (pages, i) => {
              const bytes = new Uint8Array(pages * 4096);
              for (let p = 0; p < pages; p++)
                if (!isZero(p)) bytes.fill((p % 251) + 1 + i, p * 4096 + 17, p * 4096 + 300);
              const image = join(root, `windows-${mode}-${zpd}-${i}.img`);
              await writeFile(image, bytes);
              return { idstr: `w${i}`, image, bytes };
            }),
          );
          const rx = await startReceiver({
            listen: `unix:${join(root, `windows-${mode}-${zpd}.sock`)}`,
            multifdChannels: 3,
            output: dir,
            timeoutMs: 20_000,
          });
          const [, sent] = await Promise.all([
            rx.done,
            sendMigration({
              to: rx.address,
              blocks: images.map(({ idstr, image }) => ({ idstr, image })),
              multifdChannels: 3,
              zeroPageDetection: zpd,
            }),
          ]);
          for (const i of images) {
            const got = await readFile(join(dir, blockFileName(i.idstr)));
            expect(Buffer.compare(got, i.bytes), i.idstr).toBe(0);
          }
          const pages = sizes.reduce((a, b) => a + b, 0);
          let zero = 0;
          for (const n of sizes) for (let p = 0; p < n; p++) if (isZero(p)) zero++;
          const normal = sent.channels.reduce((a, c) => a + c.normalPages, 0);
          const inPackets = sent.channels.reduce((a, c) => a + c.zeroPages, 0);
          expect([normal, inPackets, sent.main.zeroRecords]).toEqual(
            zpd === "none"
              ? [pages, 0, 0]
              : zpd === "legacy"
                ? [pages - zero, 0, zero]
                : [pages - zero, zero, 0],
          );
        });
      });
    }
  }

  // Found by the property above (FC_SEED=20261126): a 255-byte idstr, whose block file name is already
  // NAME_MAX long, got the temp name "<name>.partial-<pid>" and the receive failed with ENAMETOOLONG.
  for (const length of [250, 251, 255]) {
    it(`pinned: receives a block whose ${length}-byte idstr makes a NAME_MAX-long file name`, async () => {
      const dir = join(root, `pinned-${length}`);
      const idstr = "b".repeat(length);
      const bytes = imageOf([{ kind: "first", byte: 1 }]);
      const image = join(root, `pinned-${length}.img`);
      await writeFile(image, bytes);
      const rx = await startReceiver({
        listen: `unix:${join(root, `pinned-${length}.sock`)}`,
        multifdChannels: 1,
        output: dir,
        timeoutMs: 20_000,
      });
      await Promise.all([
        rx.done,
        sendMigration({
          to: rx.address,
          blocks: [{ idstr, image }],
          multifdChannels: 1,
          zeroPageDetection: "none",
        }),
      ]);
      expect(blockFileName(idstr).length).toBeGreaterThanOrEqual(254);
      expect(await readdir(dir)).toEqual([blockFileName(idstr)]);
      expect(Buffer.compare(await readFile(join(dir, blockFileName(idstr))), bytes)).toBe(0);
    });
  }
});
