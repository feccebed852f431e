// inspect reports, per block, how many bytes of the page array hold data: zero pages are holes.
// spec8 pattern over 512 pages: pages ≡ 0 mod 4 are zero, the other 384 are written.
import { open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allocatedBytesIn, dataExtents, pageRangesWithData } from "../../src/impl/allocation.js";
import { inspectFile } from "../../src/impl/inspect.js";
import { nativeIo } from "../../src/impl/native-io.js";
import { writeMigrationFile } from "../../src/impl/save.js";
import { makeImage } from "../helpers/images.js";
import { nativeModes, useNativeMode } from "../helpers/native-mode.js";

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
});
afterAll(async () => {
  await dir.cleanup();
});

/** Which asks the kernel for the extents: the native helper (lseek in C) or python3 (MRC_NATIVE=0). */
const ASKERS = nativeModes("python3");

describe.each(ASKERS)("allocation, asked by %s", (asker) => {
  useNativeMode(asker);

  it("counts allocated bytes of each page array (present pages x 4096; holes for zero pages)", async (ctx) => {
    const image = join(dir.path, `r-${asker}.img`);
    await writeFile(image, makeImage("spec8", 512));
    const path = join(dir.path, `r-${asker}.mig`);
    await writeMigrationFile({ path, blocks: [{ idstr: "r", image }] });
    // a filesystem that does not report holes (or no python3) gives "unknown": nothing to check here
    const extents = await dataExtents(path);
    ctx.skip(extents === undefined || extents.length < 2, "no SEEK_DATA/SEEK_HOLE on this filesystem");
    const r = await inspectFile(path);
    expect(r.ramBlocks[0]).toMatchObject({ pagesPresent: 384, pagesZero: 128, pagesAllocated: "0x180000" });
    // zpd=none writes every page
    const none = join(dir.path, `none-${asker}.mig`);
    await writeMigrationFile({ path: none, blocks: [{ idstr: "r", image }], zeroPageDetection: "none" });
    expect((await inspectFile(none)).ramBlocks[0]).toMatchObject({
      pagesPresent: 512,
      pagesAllocated: "0x200000",
    });
  });

  it("allocatedBytesIn sums, per range, the data extents that SEEK_DATA/SEEK_HOLE report, clipped to the range", async (ctx) => {
    // 1 MiB file: data at [64 KiB, 128 KiB) and [512 KiB, 576 KiB), holes elsewhere
    const path = join(dir.path, `holes-${asker}.bin`);
    const fh = await open(path, "w");
    try {
      await fh.truncate(1024 * 1024);
      await fh.write(new Uint8Array(64 * 1024).fill(1), 0, 64 * 1024, 64 * 1024);
      await fh.write(new Uint8Array(64 * 1024).fill(2), 0, 64 * 1024, 512 * 1024);
    } finally {
      await fh.close();
    }
    const extents = await dataExtents(path);
    const found = (extents ?? []).map(([x, y]) => `${x}-${y}`).join(" ");
    ctx.skip(found !== "65536-131072 524288-589824", "this filesystem does not report these holes");
    const K = 1024n;
    expect(
      await allocatedBytesIn(path, [
        [0n, 1024n * K], // both extents
        [96n * K, 540n * K], // the end of the first and the start of the second
        [128n * K, 512n * K], // only the hole between them
        [560n * K, 2048n * K], // past the end of the file
      ]),
    ).toEqual([128n * K, 32n * K + 28n * K, 0n, 16n * K]);
    expect(await allocatedBytesIn(join(dir.path, "missing.bin"), [[0n, 1n]])).toBeUndefined();
  });

  /** A 1 MiB file: 64 KiB of data at 0, 64 KiB (one extent with the first), 256 KiB and 960 KiB. */
  async function fourExtents(name: string): Promise<string> {
    const path = join(dir.path, name);
    const fh = await open(path, "w");
    try {
      await fh.truncate(1024 * 1024);
      for (const at of [0, 64, 256, 960])
        await fh.write(new Uint8Array(64 * 1024).fill(7), 0, 64 * 1024, at * 1024);
    } finally {
      await fh.close();
    }
    return path;
  }

  it("pageRangesWithData: data extents widened to whole pages, merged where they touch, clipped to numPages", async (ctx) => {
    const path = await fourExtents(`ranges-${asker}.bin`);
    const found = ((await dataExtents(path)) ?? []).map(([x, y]) => `${x}-${y}`).join(" ");
    ctx.skip(
      found !== "0-131072 262144-327680 983040-1048576",
      "this filesystem does not report these holes",
    );
    // 4 KiB pages: [0, 32), [64, 80); the extent at page 240 lies past numPages 240
    expect(Array.from((await pageRangesWithData(path, 240, 4096)) ?? [])).toEqual([0, 32, 64, 80]);
    // 48 KiB "pages": [0, 128 KiB) widens to [0, 3); [256 KiB, 320 KiB) to pages 5 and 6; the last
    // extent, pages 20 and 21, is clipped to numPages 21
    expect(Array.from((await pageRangesWithData(path, 21, 48 * 1024)) ?? [])).toEqual([0, 3, 5, 7, 20, 21]);
    // 192 KiB "pages": [0, 1) and [1, 2) touch once widened, so they merge; then [5, 6)
    expect(Array.from((await pageRangesWithData(path, 100, 192 * 1024)) ?? [])).toEqual([0, 2, 5, 6]);
    // all of it: the last extent too
    expect(Array.from((await pageRangesWithData(path, 256, 4096)) ?? [])).toEqual([0, 32, 64, 80, 240, 256]);
    // pages from base 32 KiB + 100 (a page array inside a file need not start on a page): [base, 128 KiB)
    // is pages 0-23 (the last partly), [256, 320 KiB) pages 55-71; the extent at 960 KiB lies past page 200
    const base = 32 * 1024 + 100;
    expect(Array.from((await pageRangesWithData(path, 200, 4096, base)) ?? [])).toEqual([0, 24, 55, 72]);
  });

  it("pageRangesWithData: a file with no data: no range; a file with no hole: undefined (nothing to skip)", async (ctx) => {
    const empty = join(dir.path, `empty-${asker}.bin`);
    const fh = await open(empty, "w");
    await fh.truncate(1024 * 1024);
    await fh.close();
    const found = await dataExtents(empty);
    ctx.skip(found === undefined || found.length !== 0, "this filesystem does not report holes");
    expect(Array.from((await pageRangesWithData(empty, 256, 4096)) ?? [-1])).toEqual([]);
    const full = join(dir.path, `full-${asker}.bin`);
    await writeFile(full, new Uint8Array(64 * 1024).fill(1));
    expect(await pageRangesWithData(full, 16, 4096)).toBeUndefined();
  });
});

describe.skipIf(nativeIo() === undefined && process.env.MRC_REQUIRE_NATIVE !== "1")(
  "native dataExtents and allocatedBytesIn",
  () => {
    it("dataExtents: clipped to the range, null past maxExtents; allocatedBytesIn refuses partial pairs", async (ctx) => {
      const io = nativeIo();
      if (io === undefined) throw new Error("MRC_REQUIRE_NATIVE=1 but dist/native/mrc-io.node is not built");
      const path = join(dir.path, "max.bin");
      const fh = await open(path, "w");
      try {
        await fh.truncate(1024 * 1024);
        for (const at of [0, 256, 960])
          await fh.write(new Uint8Array(64 * 1024).fill(7), 0, 64 * 1024, at * 1024);
        const found = ((await dataExtents(path)) ?? []).length;
        ctx.skip(found !== 3, "this filesystem does not report these holes");
        const K = 1024;
        expect(Array.from(io.dataExtents(fh.fd, 0, 4096 * K, 3) ?? [])).toEqual([
          0,
          64 * K,
          256 * K,
          320 * K,
          960 * K,
          1024 * K,
        ]);
        expect(io.dataExtents(fh.fd, 0, 4096 * K, 2)).toBeNull();
        // clipped to [from, to): past `to`, extents do not count against the limit
        expect(Array.from(io.dataExtents(fh.fd, 32 * K, 300 * K, 2) ?? [])).toEqual([
          32 * K,
          64 * K,
          256 * K,
          300 * K,
        ]);
        expect(Array.from(io.dataExtents(fh.fd, 100 * K, 200 * K, 0) ?? [-1])).toEqual([]);
        expect(() => io.dataExtents(fh.fd, 10, 5, 1)).toThrow(
          "dataExtents(fd, from, to, maxExtents) takes a descriptor, offsets 0 <= from <= to <= 2^53 and a count",
        );
        // allocatedBytesIn takes whole offsets in pairs
        expect(
          Array.from(
            io.allocatedBytesIn(fh.fd, Float64Array.of(0, 4096 * 1024, 300 * 1024, 960 * 1024)) ?? [],
          ),
        ).toEqual([192 * 1024, 20 * 1024]);
        expect(() => io.allocatedBytesIn(fh.fd, Float64Array.of(0.5, 1))).toThrow(
          "allocatedBytesIn: offsets must be whole numbers from 0 to 2^53",
        );
        expect(() => io.allocatedBytesIn(fh.fd, Float64Array.of(0))).toThrow(
          "allocatedBytesIn(fd, ranges) takes a descriptor and a Float64Array of [start, end) pairs",
        );
      } finally {
        await fh.close();
      }
    });
  },
);
