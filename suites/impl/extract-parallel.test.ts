// mrc extract of a file with at least PARALLEL_EXTRACT_MIN_BYTES of present pages: the loader channels,
// the native helper's threads (copyPages) or without it worker threads (extract-worker.ts), copy every
// set-bit run, and a write error in one of them ends the extract with the output named and no block
// file left.
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { extractBlocks, PARALLEL_EXTRACT_MIN_BYTES } from "../../src/impl/extract.js";
import { nativeIo } from "../../src/impl/native-io.js";
import { FileSource } from "../../src/impl/source.js";
import { saveFile, tempDir } from "../cli/fixtures.js";
import { havePrlimit, mrcWithFileSizeLimit } from "../faults/helpers.js";
import { nativeModes, withNativeMode } from "../helpers/native-mode.js";

const PAGE = 4096;
const PAGES = 23040; // 90 MiB
const dir = await tempDir("extract-parallel");

/** Every fifth page zero; the others hold their page index and a fill byte, so no two pages are equal. */
function image(): Uint8Array {
  const img = new Uint8Array(PAGES * PAGE);
  const view = new DataView(img.buffer);
  for (let p = 0; p < PAGES; p++) {
    if (p % 5 === 0) continue;
    img.fill((p % 253) + 1, p * PAGE, (p + 1) * PAGE);
    view.setUint32(p * PAGE, p, true);
  }
  return img;
}

const IMAGE = image();
const PRESENT = PAGES - PAGES / 5; // 18432 pages, 72 MiB
const mig = await saveFile(dir, [{ idstr: "pc.ram", image: IMAGE }], { multifdChannels: 2 });

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The helper's copy is tested where it is built, and must be under MRC_REQUIRE_NATIVE=1 (CI). */
const withNative = nativeModes("workers").includes("native");
if (!withNative)
  console.warn("parallel extract with native threads skipped: dist/native/mrc-io.node is not built");

describe("parallel extract", () => {
  it("the file is above the threshold, so without the native helper the worker threads copy it", () => {
    expect(BigInt(PRESENT * PAGE) >= PARALLEL_EXTRACT_MIN_BYTES).toBe(true);
  });

  /** Extracts the file with `copy` and checks the block file, the page count and the last progress call. */
  async function extractsTheImage(copy: "native" | "workers"): Promise<void> {
    if (copy === "native") expect(nativeIo(), "dist/native/mrc-io.node loads").toBeDefined();
    const out = join(dir, `x-${copy}`);
    const calls: Array<[bigint, bigint]> = [];
    const src = await FileSource.open(mig);
    try {
      const r = await withNativeMode(copy, () =>
        extractBlocks(src, out, { onProgress: (d, t) => calls.push([d, t]) }),
      );
      expect(r.blocks.map((b) => [b.idstr, b.pagesPresent])).toEqual([["pc.ram", PRESENT]]);
    } finally {
      await src.close();
    }
    expect(await readdir(out)).toEqual(["pc.ram.bin"]);
    const got = await readFile(join(out, "pc.ram.bin"));
    expect(got.length).toBe(IMAGE.length);
    expect(Buffer.compare(got, IMAGE)).toBe(0);
    expect(calls.at(-1)).toEqual([BigInt(PRESENT * PAGE), BigInt(PRESENT * PAGE)]);
  }

  it.skipIf(!withNative)(
    "the native helper's threads write the image byte for byte, count the pages and report progress to the total",
    () => extractsTheImage("native"),
  );

  it("worker threads (MRC_NATIVE=0) write the image byte for byte, count the pages and report progress to the total", () =>
    extractsTheImage("workers"));

  it.skipIf(!havePrlimit).each(nativeModes("workers"))(
    "%s: a write past RLIMIT_FSIZE (EFBIG) in a channel: exit 2, one line, no block file",
    async (copy) => {
      const out = join(dir, `efbig-${copy}`);
      const r = await withNativeMode(copy, () =>
        mrcWithFileSizeLimit(8 * 1024 * 1024, ["extract", mig, "-o", out]),
      );
      expect(r.exitCode).toBe(2);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^mrc: ERR_IO @0x[0-9a-f]+: cannot write file "[^"]+\/pc\.ram\.bin" \(written as "\.mrc-extract-\d+-0\.partial"\) at offset 0x[0-9a-f]+: EFBIG: file too large, write$/,
      );
      expect(await readdir(out)).toEqual([]);
    },
  );
});
