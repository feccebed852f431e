// Differential property test: the oracle against the reference writer and reader (src/impl).
// For arbitrary block lists, sizes, offsets and images: the oracle's layout equals what the writer
// wrote and what the reader parsed, and checkFile on the writer's output has no findings.
// This is the only oracle suite that loads src/impl; adjust it here when the impl's API moves.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMigrationFile, writeMigrationFile } from "../../src/impl/index.js";
import { checkPath, expectedLayout, memorySource } from "../../src/oracle/index.js";
import { imageOf, SEED, scenarioArb } from "./helpers/arbitraries.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrc-diff-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const arb = fc.tuple(scenarioArb, fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }));

describe("oracle vs the reference writer and reader", () => {
  it("same layout, no findings", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(arb, async ([s, multifdChannels]) => {
        run++;
        const path = join(dir, `run-${run}.mig`);
        const images = s.blocks.map((b) => ({
          idstr: b.idstr,
          bytes: imageOf(b),
          path: join(dir, `run-${run}-${b.pages}-${s.blocks.indexOf(b)}.img`),
        }));
        for (const i of images) await writeFile(i.path, i.bytes);
        await writeMigrationFile({
          path,
          offset: s.offset,
          blocks: images.map((i) => ({ idstr: i.idstr, image: i.path })),
          machine: "none",
          partSections: s.parts,
          zeroPageDetection: s.zeroPageDetection,
          ...(multifdChannels === undefined ? {} : { multifdChannels }),
        });
        const parsed = await readMigrationFile(path, { offset: s.offset });
        const order = parsed.ramBlocks.map((b) => b.idstr);
        // spec 2.2: RAM-list order, largest first, ties in creation order
        const byList = [...s.blocks].sort((a, b) => b.pages - a.pages).map((b) => b.idstr);
        expect(order).toEqual(byList);
        const layout = expectedLayout(
          order.map((idstr) => {
            const img = images.find((i) => i.idstr === idstr);
            return { idstr, usedLength: BigInt(img?.bytes.length ?? -1) };
          }),
          { startOffset: s.offset },
        );
        const fromReader = parsed.ramBlocks.map((b) => [
          b.idstr,
          b.usedLength,
          b.recordOffset,
          b.mappedRam?.headerOffset,
          b.mappedRam?.bitmapOffset,
          b.mappedRam?.bitmapSize,
          b.mappedRam?.pagesOffset,
          b.mappedRam?.end,
        ]);
        const fromOracle = layout.blocks.map((b) => [
          b.idstr,
          b.usedLength,
          b.recordOffset,
          b.headerOffset,
          b.bitmapOffset,
          b.bitmapSize,
          b.pagesOffset,
          b.resumeOffset,
        ]);
        expect(fromReader).toEqual(fromOracle);
        const report = await checkPath(path, {
          offset: s.offset,
          ram: images.map((i) => ({ idstr: i.idstr, image: memorySource(i.bytes) })),
          zeroPageDetection: s.zeroPageDetection,
        });
        expect(report.findings).toEqual([]);
        expect(report.blocks.map((b) => [b.idstr, b.headerOffset, b.bitmapOffset, b.pagesOffset])).toEqual(
          layout.blocks.map((b) => [b.idstr, b.headerOffset, b.bitmapOffset, b.pagesOffset]),
        );
        await rm(path);
      }),
      { seed: SEED, numRuns: 25 },
    );
  });
});
