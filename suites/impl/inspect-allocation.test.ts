// inspect reports, per block, how many bytes of the page array hold data: zero pages are holes.
// spec8 pattern over 512 pages: pages ≡ 0 mod 4 are zero, the other 384 are written.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dataExtents } from "../../src/impl/allocation.js";
import { inspectFile } from "../../src/impl/inspect.js";
import { writeMigrationFile } from "../../src/impl/save.js";
import { makeImage } from "../helpers/images.js";

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
});
afterAll(async () => {
  await dir.cleanup();
});

it("counts allocated bytes of each page array (present pages x 4096; holes for zero pages)", async (ctx) => {
  const image = join(dir.path, "r.img");
  await writeFile(image, makeImage("spec8", 512));
  const path = join(dir.path, "r.mig");
  await writeMigrationFile({ path, blocks: [{ idstr: "r", image }] });
  // a filesystem that does not report holes (or no python3) gives "unknown": nothing to check here
  const extents = await dataExtents(path);
  ctx.skip(extents === undefined || extents.length < 2, "no SEEK_DATA/SEEK_HOLE on this filesystem");
  const r = await inspectFile(path);
  expect(r.ramBlocks[0]).toMatchObject({ pagesPresent: 384, pagesZero: 128, pagesAllocated: "0x180000" });
  // zpd=none writes every page
  const none = join(dir.path, "none.mig");
  await writeMigrationFile({ path: none, blocks: [{ idstr: "r", image }], zeroPageDetection: "none" });
  expect((await inspectFile(none)).ramBlocks[0]).toMatchObject({
    pagesPresent: 512,
    pagesAllocated: "0x200000",
  });
});
