// Issue 2 against real QEMU 10.0.2, both directions:
//   QEMU -> us: `mrc extract` of QEMU's file equals the image; `mrc save` with the same parameters
//               (K = PART records counted in QEMU's file) is byte-identical to QEMU's file.
//   us -> QEMU: QEMU started with -incoming defer loads the file from `mrc save`, its RAM equals the image.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readMigrationFile } from "../../src/impl/reader.js";
import { qemuLoadFile, qemuSaveFile } from "../../src/qemu/index.js";
import { mrc } from "../helpers/cli.js";
import { firstDifferingPage, type ImagePattern, writeImage } from "../helpers/images.js";
import { describeQemu, suiteQemu } from "../helpers/qemu.js";

interface Case {
  name: string;
  pattern: ImagePattern;
  pages: number;
  /** undefined: multifd off */
  channels?: number;
  offset: string;
  zpd?: "none" | "legacy" | "multifd";
}

// Every size/pattern, every channel count (off, 1, 2, 3, 8) and every offset appears at least once.
const CASES: Case[] = [
  { name: "spec pattern 8 MiB, no multifd, offset 0", pattern: "spec8", pages: 2048, offset: "0" },
  {
    name: "spec pattern 8 MiB, 2 channels, offset 0x1000",
    pattern: "spec8",
    pages: 2048,
    channels: 2,
    offset: "0x1000",
  },
  {
    name: "all zero 4 MiB, 1 channel, offset 12345",
    pattern: "allZero",
    pages: 1024,
    channels: 1,
    offset: "12345",
  },
  {
    name: "no zero page 2 MiB, 3 channels, offset 1M",
    pattern: "noZero",
    pages: 512,
    channels: 3,
    offset: "1M",
  },
  {
    name: "100 pages (not a multiple of 64), 8 channels, offset 0x1fff00",
    pattern: "zeroRuns",
    pages: 100,
    channels: 8,
    offset: "0x1fff00",
  },
  {
    name: "769 pages of last-byte pages, no multifd, offset 0x1fff00",
    pattern: "lastByte",
    pages: 769,
    offset: "0x1fff00",
  },
  { name: "1 page, 2 channels, offset 0", pattern: "noZero", pages: 1, channels: 2, offset: "0" },
  {
    name: "spec pattern, zero-page-detection none, 3 channels, offset 12345",
    pattern: "spec8",
    pages: 2048,
    channels: 3,
    offset: "12345",
    zpd: "none",
  },
  {
    name: "zero runs 3 MiB, zero-page-detection legacy, 2 channels, offset 1M",
    pattern: "zeroRuns",
    pages: 768,
    channels: 2,
    offset: "1M",
    zpd: "legacy",
  },
  {
    name: "zero runs, zero-page-detection none, no multifd, offset 0x1000",
    pattern: "zeroRuns",
    pages: 300,
    offset: "0x1000",
    zpd: "none",
  },
];

// The full product of channel counts and offsets on the spec pattern (2 MiB keeps it quick).
for (const channels of [undefined, 1, 2, 3, 8]) {
  for (const offset of ["0", "0x1000", "12345", "1M", "0x1fff00"]) {
    CASES.push({
      name: `matrix: ${channels ? `${channels} channel(s)` : "no multifd"}, offset ${offset}`,
      pattern: "spec8",
      pages: 512,
      ...(channels ? { channels } : {}),
      offset,
    });
  }
}

function offsetValue(s: string): bigint {
  return s.endsWith("M") ? BigInt(s.slice(0, -1)) << 20n : BigInt(s);
}

describeQemu("reference writer and reader against QEMU 10.0.2 (-M none)", () => {
  let dir: { path: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    dir = await tmpDir({ unsafeCleanup: true });
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  for (const [i, c] of CASES.entries()) {
    it(c.name, async () => {
      const qemu = suiteQemu();
      const base = join(dir.path, `case${i}`);
      const image = `${base}.img`;
      const img = await writeImage(image, c.pattern, c.pages);
      const capabilities: Record<string, boolean> = {
        "mapped-ram": true,
        ...(c.channels ? { multifd: true } : {}),
      };
      const parameters: Record<string, unknown> = {
        ...(c.channels ? { "multifd-channels": c.channels } : {}),
        ...(c.zpd ? { "zero-page-detection": c.zpd } : {}),
      };
      const offset = offsetValue(c.offset);
      // A non-zero prefix that QEMU (and we) must keep before the offset.
      const prefix = new Uint8Array(Number(offset)).fill(0x58);

      // QEMU's file
      const qfile = `${base}.qemu.mig`;
      await writeFile(qfile, prefix);
      const saved = await qemuSaveFile({
        binary: qemu,
        machine: "none",
        memoryBackend: "r",
        backends: [{ id: "r", path: image }],
        capabilities,
        parameters,
        file: qfile,
        offset: c.offset,
      });
      expect(saved.errorDesc ?? saved.status).toBe("completed");
      const qbytes = await readFile(qfile);
      expect(Buffer.compare(qbytes.subarray(0, prefix.length), prefix)).toBe(0);

      // QEMU -> us: extract equals the image
      const x = await mrc(["extract", qfile, "--offset", c.offset, "-o", `${base}.out`]);
      expect(x.stderr).toBe("");
      expect(x.exitCode).toBe(0);
      const back = await readFile(join(`${base}.out`, "r.bin"));
      expect(firstDifferingPage(back, img)).toBe(-1);

      // us -> byte-identical to QEMU, with K from QEMU's file
      const parsed = await readMigrationFile(qfile, { offset });
      const k = parsed.records.filter((r) => r.kind === "section" && r.type === "part").length;
      const ours = `${base}.ours.mig`;
      await writeFile(ours, prefix);
      const args = [
        "save",
        "--block",
        `r=${image}`,
        "--offset",
        c.offset,
        "--part-sections",
        String(k),
        "-o",
        ours,
        "--force",
      ];
      if (c.channels) args.push("--multifd-channels", String(c.channels));
      if (c.zpd) args.push("--zero-page-detection", c.zpd);
      const s = await mrc(args);
      expect(s.stderr).toBe("");
      expect(s.exitCode).toBe(0);
      const obytes = await readFile(ours);
      expect(obytes.length).toBe(qbytes.length);
      expect(Buffer.compare(obytes, qbytes)).toBe(0);

      // us -> QEMU: QEMU loads our file into fresh RAM equal to the image
      const loaded = await qemuLoadFile({
        binary: qemu,
        machine: "none",
        memoryBackend: "r",
        backends: [{ id: "r", size: img.length }],
        capabilities,
        parameters: c.channels ? { "multifd-channels": c.channels } : {},
        file: ours,
        offset: c.offset,
      });
      try {
        expect(loaded.errorDesc ?? loaded.status).toBe("completed");
        const ram = await readFile((loaded.backends[0] as { path: string }).path);
        expect(firstDifferingPage(ram, img)).toBe(-1);
      } finally {
        await loaded.cleanup();
      }
    });
  }
});
