// readPageWindow (src/impl/multifd/page-window.ts): a send's window of a RAM image, with which of its pages
// are zero, mapped through the native helper (the send writes from the mapping) or read with pread; an
// image that shrank after it was opened, or under a mapping, and a read that fails, end the send with
// ERR_IO naming where.
import { rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import {
  copyWindowBytes,
  PageWindowPool,
  readPageWindow,
  WINDOW_PAGES,
} from "../../src/impl/multifd/page-window.js";
import { nativeIo } from "../../src/impl/native-io.js";
import { FileSource } from "../../src/impl/source.js";
import { tempDir } from "../cli/fixtures.js";
import { nativeModes, useNativeMode } from "../helpers/native-mode.js";

const PAGE = 4096;
const dir = await tempDir("page-window");
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `pages` pages; page p is zero when p % 4 === 0, else holds p + 1 in its byte p % 4096 (one byte set). */
function image(pages: number): Uint8Array {
  const b = new Uint8Array(pages * PAGE);
  for (let p = 0; p < pages; p++) if (p % 4 !== 0) b[p * PAGE + (p % PAGE)] = (p % 255) + 1;
  return b;
}

async function caught(p: Promise<unknown>): Promise<MappedRamError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(MappedRamError);
  return e as MappedRamError;
}

for (const mode of nativeModes("pread")) {
  describe(`readPageWindow (${mode})`, () => {
    useNativeMode(mode);

    it("fills a window's pages and says which are zero; without detection none is", async () => {
      const pages = WINDOW_PAGES + 40;
      const bytes = image(pages);
      const path = join(dir, `${mode}-read.img`);
      await writeFile(path, bytes);
      const src = await FileSource.open(path);
      const pool = new PageWindowPool();
      try {
        const w = pool.take();
        // the second window: 40 pages from page WINDOW_PAGES
        await readPageWindow(src, "r", WINDOW_PAGES, 40, true, w);
        const zero = Array.from(w.zero.subarray(0, 40));
        expect(zero).toEqual(Array.from({ length: 40 }, (_, i) => ((WINDOW_PAGES + i) % 4 === 0 ? 1 : 0)));
        for (let i = 0; i < 40; i++) {
          if (zero[i]) continue;
          const at = (WINDOW_PAGES + i) * PAGE;
          expect(
            Buffer.compare(w.bytes.subarray(i * PAGE, (i + 1) * PAGE), bytes.subarray(at, at + PAGE)),
          ).toBe(0);
        }
        await readPageWindow(src, "r", 0, WINDOW_PAGES, false, w);
        expect(w.zero.every((z) => z === 0)).toBe(true);
        expect(Buffer.compare(w.bytes, bytes.subarray(0, WINDOW_PAGES * PAGE))).toBe(0);
      } finally {
        await src.close();
      }
    });

    it("ends with ERR_IO naming the block and where the image now ends when it shrank after opening", async () => {
      const path = join(dir, `${mode}-short.img`);
      await writeFile(path, image(64));
      const src = await FileSource.open(path);
      const pool = new PageWindowPool();
      try {
        await truncate(path, 20 * PAGE + 100);
        const e = await caught(readPageWindow(src, "pc.ram", 0, 64, true, pool.take()));
        expect(e.code).toBe("ERR_IO");
        expect(e.offset).toBe(BigInt(20 * PAGE + 100));
        expect(e.message).toBe(
          'cannot read RAM image of block "pc.ram" at offset 0x14064: became shorter while it was being sent',
        );
        const past = await caught(readPageWindow(src, "pc.ram", 32, 32, true, pool.take()));
        expect(past.offset).toBe(BigInt(32 * PAGE));
      } finally {
        await src.close();
      }
    });
  });
}

describe.runIf(nativeModes("pread").includes("native"))("readPageWindow with the native helper", () => {
  useNativeMode("native");
  const mappedBytes = () => (nativeIo() as NonNullable<ReturnType<typeof nativeIo>>).mappedImageBytes();

  it("maps a window of 16 pages or more, until the last of its users gives it back", async () => {
    const bytes = image(WINDOW_PAGES + 40);
    const path = join(dir, "mapped.img");
    await writeFile(path, bytes);
    const src = await FileSource.open(path);
    const pool = new PageWindowPool();
    const base = mappedBytes();
    try {
      const w = pool.take();
      await readPageWindow(src, "r", WINDOW_PAGES, 40, true, w);
      expect(mappedBytes() - base).toBe(40 * PAGE);
      expect(w.own).toBeUndefined(); // nothing was copied
      expect(Array.from(w.zero.subarray(0, 40))).toEqual(
        Array.from({ length: 40 }, (_, i) => ((WINDOW_PAGES + i) % 4 === 0 ? 1 : 0)),
      );
      expect(Buffer.compare(w.bytes, bytes.subarray(WINDOW_PAGES * PAGE))).toBe(0);
      const page = w.bytes.subarray(3 * PAGE, 4 * PAGE);
      w.users++; // a batch with pages in it
      pool.release(w);
      expect([pool.live, mappedBytes() - base]).toEqual([1, 40 * PAGE]);
      pool.release(w);
      expect([pool.live, mappedBytes() - base, w.bytes.length, page.length]).toEqual([0, 0, 0, 0]);
      // a window under 16 pages is read into the window's own buffer
      const small = pool.take();
      await readPageWindow(src, "r", 8, 15, true, small);
      expect(mappedBytes() - base).toBe(0);
      expect(small.bytes).toBe(small.own);
      expect(Buffer.compare(small.bytes.subarray(0, 15 * PAGE), bytes.subarray(8 * PAGE, 23 * PAGE))).toBe(0);
      pool.release(small);
    } finally {
      await src.close();
    }
  });

  it("dispose unmaps the windows still taken; reading a window again lets go of its old mapping", async () => {
    const path = join(dir, "dispose.img");
    await writeFile(path, image(64));
    const src = await FileSource.open(path);
    const pool = new PageWindowPool();
    const base = mappedBytes();
    try {
      const a = pool.take();
      const b = pool.take();
      await readPageWindow(src, "r", 0, 32, true, a);
      await readPageWindow(src, "r", 0, 16, true, b);
      await readPageWindow(src, "r", 16, 48, true, b);
      expect([pool.live, mappedBytes() - base]).toEqual([2, 80 * PAGE]);
      pool.dispose();
      expect([pool.live, mappedBytes() - base, a.bytes.length, b.bytes.length]).toEqual([0, 0, 0, 0]);
    } finally {
      await src.close();
    }
  });

  it("copyWindowBytes of a mapped window whose image shrank since is ERR_IO naming where it ends now", async () => {
    const bytes = image(64);
    const path = join(dir, "mapped-short.img");
    await writeFile(path, bytes);
    const src = await FileSource.open(path);
    const pool = new PageWindowPool();
    const w = pool.take();
    try {
      await readPageWindow(src, "pc.ram", 0, 64, true, w);
      await truncate(path, 20 * PAGE + 100);
      const into = new Uint8Array(PAGE);
      copyWindowBytes(w, w.bytes.subarray(5 * PAGE, 6 * PAGE), into, src, "pc.ram");
      expect(Buffer.compare(into, bytes.subarray(5 * PAGE, 6 * PAGE))).toBe(0);
      let e: unknown;
      try {
        copyWindowBytes(w, w.bytes.subarray(30 * PAGE, 31 * PAGE), into, src, "pc.ram");
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(MappedRamError);
      expect((e as MappedRamError).message).toBe(
        'cannot read RAM image of block "pc.ram" at offset 0x14064: became shorter while it was being sent',
      );
    } finally {
      pool.release(w);
      await src.close();
    }
  });
});

describe("readPageWindow of something that cannot be read", () => {
  it("names the image and the window's offset (a directory: EISDIR)", async () => {
    const src = await FileSource.open(dir);
    try {
      const e = await caught(readPageWindow(src, "r", 3, 16, true, new PageWindowPool().take()));
      expect(e.code).toBe("ERR_IO");
      expect(e.offset).toBe(BigInt(3 * PAGE));
      expect(e.message).toBe(
        `cannot read file "${dir}" at offset 0x3000: EISDIR: illegal operation on a directory, read`,
      );
    } finally {
      await src.close();
    }
  });
});
