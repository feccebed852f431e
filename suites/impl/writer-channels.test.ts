// The two ways bulk-pass pages reach the channels: channels reading the RAM image file themselves, or
// the flow reading into a channel slot (a reader that is not a file). Both must give the same file,
// report progress, and report a RAM image shorter than used_length the same way. Channels reading the
// file are the native helper's threads, which map it (save-pages.ts, native/mrc-io.c), or worker
// threads reading it into their slots with pread (MRC_NATIVE=0, or the helper not built): every
// file-reading case runs both ways.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { MemorySource } from "../../src/impl/source.js";
import type { SaveBlock } from "../../src/impl/writer.js";
import type { ZeroPageDetection } from "../../src/impl/zero-page.js";
import { checkFile, memorySource } from "../../src/oracle/index.js";
import { PAGE, saveWithPlan, specImage, tempDir } from "../cli/fixtures.js";
import { nativeModes, withNativeMode } from "../helpers/native-mode.js";

const dir = await tempDir("writer-channels");
const MiB = 1024 * 1024;

/**
 * `source` as a RAM image file at `path` of `size` bytes (so channels read the file), while the flow's
 * own reads go to `source`.
 */
function asFile(source: MemorySource, path: string, size: bigint) {
  return { readInto: (o: bigint, into: Uint8Array) => source.readInto(o, into), filePath: path, size };
}

/** How channels read image files: native needs the helper (skipped without it, unless CI requires it). */
const READS = nativeModes("pread");

/** `pages` pages: every third all-zero, the others filled with their index (so runs break often). */
function patterned(pages: number): Uint8Array {
  const image = new Uint8Array(pages * PAGE);
  for (let p = 0; p < pages; p++) if (p % 3 !== 0) image.fill((p % 251) + 1, p * PAGE, (p + 1) * PAGE);
  return image;
}

describe.each(READS)("channels reading the image file (%s) give the file the flow's reads give", (reads) => {
  const image = patterned(5000); // more than one 4096-page range
  const cases: Array<[number | null, ZeroPageDetection]> = [
    [null, "multifd"],
    [null, "none"],
    [2, "multifd"],
    [3, "legacy"],
    [1, "none"],
  ];
  it.each(cases)("multifd channels %s, zero-page-detection %s", async (channels, zpd) => {
    const set = (plan: Parameters<Parameters<typeof saveWithPlan>[2]>[0]) => {
      plan.multifdChannels = channels;
      plan.zeroPageDetection = zpd;
    };
    const fromFile = await withNativeMode(reads, () => saveWithPlan(dir, [{ idstr: "r", image }], set));
    const fromMemory = await saveWithPlan(dir, [{ idstr: "r", image }], (plan) => {
      set(plan);
      const b = plan.blocks[0];
      if (b === undefined) throw new Error("no block");
      b.image = new MemorySource(image); // no filePath: the flow reads every batch
    });
    const a = await readFile(fromFile);
    expect(Buffer.compare(a, await readFile(fromMemory))).toBe(0);
    // and the oracle, from the image alone, finds the bitmap and every page where they must be
    const report = await checkFile(memorySource(a), {
      ram: [{ idstr: "r", image: memorySource(image) }],
      zeroPageDetection: zpd === "none" ? "none" : "multifd",
    });
    expect(report.findings.filter((f) => f.severity !== "info")).toEqual([]);
  });
});

describe.each(READS)(
  "an image that starts inside its file (fileOffset, as reencode reads a page array; %s)",
  (reads) => {
    it.each([
      [null, "multifd", 0x5000],
      [2, "none", 0x5000],
      [2, "multifd", 0x5123], // not on a host page: the mapping starts before the image
    ] as Array<[number | null, ZeroPageDetection, number]>)(
      "multifd channels %s, zero-page-detection %s, offset %i: the same file as from the image alone",
      async (channels, zpd, offset) => {
        const image = patterned(4500);
        // `offset` bytes of 0xee before the pages and after them: a wrong base offset reads them as pages
        const junk = new Uint8Array(offset).fill(0xee);
        const holder = join(dir, `holder-${channels}-${zpd}-${offset}-${reads}.bin`);
        await writeFile(holder, Buffer.concat([junk, image, junk]));
        const set = (plan: Parameters<Parameters<typeof saveWithPlan>[2]>[0]) => {
          plan.multifdChannels = channels;
          plan.zeroPageDetection = zpd;
        };
        const plain = await saveWithPlan(dir, [{ idstr: "r", image }], (plan) => {
          set(plan);
          (plan.blocks[0] as SaveBlock).image = new MemorySource(image);
        });
        const inside = await withNativeMode(reads, () =>
          saveWithPlan(dir, [{ idstr: "r", image }], (plan) => {
            set(plan);
            const memory = new MemorySource(image);
            (plan.blocks[0] as SaveBlock).image = {
              // the flow's own reads (none in the bulk pass when the channels read the file) give the image
              readInto: (o: bigint, into: Uint8Array) => memory.readInto(o, into),
              filePath: holder,
              fileOffset: BigInt(offset),
              size: BigInt(offset * 2 + image.length),
            };
          }),
        );
        expect(Buffer.compare(await readFile(inside), await readFile(plain))).toBe(0);
      },
    );
  },
);

describe("progress of the bulk pass", () => {
  it("is reported per 16 MiB range when worker threads read the image file (40 MiB image)", async () => {
    const calls: Array<[number, number]> = [];
    await withNativeMode("pread", () =>
      saveWithPlan(dir, [{ idstr: "r", image: specImage(10240) }], (plan) => {
        plan.onProgress = (d, t) => calls.push([Number(d), Number(t)]);
      }),
    );
    expect(calls).toEqual([
      [16 * MiB, 40 * MiB],
      [32 * MiB, 40 * MiB],
      [40 * MiB, 40 * MiB],
    ]);
  });

  it.skipIf(!READS.includes("native"))(
    "is reported from the native threads' page count while they run, and at the end (40 MiB image)",
    async () => {
      const calls: Array<[number, number]> = [];
      await withNativeMode("native", () =>
        saveWithPlan(dir, [{ idstr: "r", image: specImage(10240) }], (plan) => {
          plan.onProgress = (d, t) => calls.push([Number(d), Number(t)]);
        }),
      );
      // every 100 ms while the threads run (none if they finish first), whole pages, rising, then the end
      expect(calls.at(-1)).toEqual([40 * MiB, 40 * MiB]);
      for (const [i, [d, t]] of calls.entries()) {
        expect(t).toBe(40 * MiB);
        expect(d % PAGE).toBe(0);
        if (i > 0) expect(d).toBeGreaterThan((calls[i - 1] as [number, number])[0]);
      }
    },
  );

  it("is reported per 128-page batch (512 KiB, spec 2.7) when the flow reads", async () => {
    const image = specImage(2048);
    const calls: number[] = [];
    await saveWithPlan(dir, [{ idstr: "r", image }], (plan) => {
      plan.onProgress = (d) => calls.push(Number(d));
      const b = plan.blocks[0];
      if (b === undefined) throw new Error("no block");
      b.image = new MemorySource(image); // no filePath: the flow reads every batch
    });
    expect(calls).toEqual(Array.from({ length: 16 }, (_, i) => (i + 1) * 512 * 1024));
  });
});

describe("a RAM image shorter than used_length", () => {
  const pages = 300; // used_length 0x12c000
  const image = patterned(pages);
  const shortAt = 200 * PAGE + 100; // 0xc8064
  const message = `cannot decode RAM image of block "r" at offset 0xc8064: is shorter than used_length 0x12c000`;

  /** The error of a save whose block image `edit` replaces (with multifd `channels`, or none). */
  async function saveError(
    edit: (b: SaveBlock) => void,
    channels: number | null = null,
  ): Promise<MappedRamError> {
    const e = await saveWithPlan(dir, [{ idstr: "r", image }], (plan) => {
      plan.multifdChannels = channels;
      const b = plan.blocks[0];
      if (b === undefined) throw new Error("no block");
      edit(b);
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(MappedRamError);
    return e as MappedRamError;
  }

  it("read by the flow: the offset where the image ends", async () => {
    const e = await saveError((b) => {
      b.image = new MemorySource(image.subarray(0, shortAt));
    });
    expect([e.code, e.offset, e.message]).toEqual(["ERR_BAD_ARGUMENT", BigInt(shortAt), message]);
  });

  it("a file whose size says so: refused before any page is written", async () => {
    const path = join(dir, "short.img");
    await writeFile(path, image.subarray(0, shortAt));
    const e = await saveError((b) => {
      b.image = asFile(new MemorySource(image.subarray(0, shortAt)), path, BigInt(shortAt));
    });
    expect([e.code, e.offset, e.message]).toEqual(["ERR_BAD_ARGUMENT", BigInt(shortAt), message]);
  });

  const readFails = READS.flatMap((reads) => [null, 2].map((channels) => [channels, reads] as const));
  it.each(readFails)(
    "an image that cannot be read: the errno, at the image offset (multifd %s, %s)",
    async (channels, reads) => {
      // a directory opens, and every read of it fails with EISDIR
      const e = await withNativeMode(reads, () =>
        saveError((b) => {
          b.image = asFile(new MemorySource(image), dir, BigInt(pages * PAGE));
        }, channels),
      );
      expect([e.code, e.offset, e.message]).toEqual([
        "ERR_IO",
        0n,
        `cannot read RAM image of block "r" at offset 0x0: EISDIR: illegal operation on a directory, read`,
      ]);
    },
  );

  const endsEarly = READS.flatMap((reads) => [null, 2].map((channels) => [channels, reads] as const));
  it.each(endsEarly)(
    "a file that ends early while a channel reads it (multifd %s, %s)",
    async (channels, reads) => {
      const path = join(dir, `ends-early-${channels}-${reads}.img`);
      await writeFile(path, image.subarray(0, shortAt));
      // the size claims the whole block: only the channel finds the end (native: the pages past it fail
      // under the mapping, so the chunk is read with pread, which names the offset)
      const e = await withNativeMode(reads, () =>
        saveError((b) => {
          b.image = asFile(new MemorySource(image), path, BigInt(pages * PAGE));
        }, channels),
      );
      expect([e.code, e.offset, e.message]).toEqual(["ERR_BAD_ARGUMENT", BigInt(shortAt), message]);
    },
  );
});
