// Compact golden storage: any file survives scan → blob → rebuild bit-exact; damaged blobs are refused.
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { dir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageDigest, libvirtPrefix, writeImage } from "../../src/conformance/patterns.js";
import {
  decodeBlob,
  encodeBlob,
  GoldenStorageError,
  rebuildFile,
  scanFile,
  sha256File,
} from "../../src/conformance/storage.js";
import { viewOf } from "../../src/impl/bytes.js";
import { fcParams } from "../helpers/fc.js";

let work: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  work = await dir({ prefix: "mrc-storage-test-", unsafeCleanup: true });
});
afterAll(async () => {
  await work.cleanup();
});

/** A sparse file: a size and non-zero runs written at given offsets. */
const sparseFile = fc.integer({ min: 0, max: 3 * 4096 + 100 }).chain((size) =>
  fc.record({
    size: fc.constant(size),
    runs: fc.array(
      fc.record({
        at: fc.nat({ max: Math.max(0, size - 1) }),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }),
      }),
      {
        maxLength: 6,
      },
    ),
  }),
);

describe("golden storage", () => {
  it("rebuilds any file bit-exact from its blob", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(sparseFile, async ({ size, runs }) => {
        const bytes = new Uint8Array(size);
        for (const r of runs) bytes.set(r.bytes.subarray(0, Math.max(0, size - r.at)), r.at);
        const src = join(work.path, `in-${n}`);
        const out = join(work.path, `out-${n++}`);
        await writeFile(src, bytes);
        const scanned = await scanFile(src);
        const decoded = decodeBlob(encodeBlob(scanned), scanned.sha256);
        expect(decoded.size).toBe(BigInt(size));
        await rebuildFile(decoded, out);
        expect(new Uint8Array(await readFile(out))).toEqual(bytes);
        expect(await sha256File(out)).toBe(scanned.sha256);
      }),
      fcParams(60),
    );
  });

  it("stores only non-zero 4 KiB extents", async () => {
    const path = join(work.path, "sparse");
    const fh = await open(path, "w");
    await fh.truncate(10 * 4096);
    await fh.write(new Uint8Array([1]), 0, 1, 3 * 4096 + 5);
    await fh.write(new Uint8Array([2]), 0, 1, 4 * 4096);
    await fh.close();
    const s = await scanFile(path);
    expect(s.extents).toEqual([{ offset: 3n * 4096n, length: 8192 }]);
    expect(s.data.length).toBe(8192);
  });

  it("refuses a damaged blob and a blob whose rebuilt file has another sha256", async () => {
    const path = join(work.path, "small");
    await writeFile(path, new Uint8Array([9, 8, 7]));
    const s = await scanFile(path);
    const gz = encodeBlob(s);
    expect(() => decodeBlob(gz.subarray(0, 10), s.sha256)).toThrow(GoldenStorageError);
    const wrong = decodeBlob(gz, "0".repeat(64));
    await expect(rebuildFile(wrong, join(work.path, "wrong"))).rejects.toThrow(/is not the recorded/);
  });
});

describe("pattern images", () => {
  it("are a function of their parameters", async () => {
    const spec = { kind: "stripes", period: 7, run: 3 } as const;
    const a = imageDigest(0x40000n, spec);
    expect(imageDigest(0x40000n, spec)).toEqual(a);
    const path = join(work.path, "img");
    expect(await writeImage(path, 0x40000n, spec)).toEqual(a);
    expect(await sha256File(path)).toBe(a.sha256);
    // 64 pages, runs of 3 in every 7: pages 0-2, 7-9, ..., 63
    expect(a.nonZeroPages).toBe(28);
    const writes = [{ firstPage: 0, count: 3, byte: 0 }];
    expect(imageDigest(0x40000n, spec, writes).nonZeroPages).toBe(25);
  });

  it("libvirt prefix: magic, version 2, data_len, sparse format, exact length", () => {
    const p = libvirtPrefix(0x1054e);
    expect(p.length).toBe(0x1054e);
    expect(Buffer.from(p.subarray(0, 16)).toString("latin1")).toBe("LibvirtQemudSave");
    const v = viewOf(p);
    expect([
      v.getUint32(16, true),
      v.getUint32(20, true),
      v.getUint32(24, true),
      v.getUint32(28, true),
    ]).toEqual([2, 0x1054e - 92, 1, 6]);
  });
});
