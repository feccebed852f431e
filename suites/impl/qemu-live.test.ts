// Live rounds against QEMU 10.0.2, made deterministic: the save runs with pause-before-switchover; while
// QEMU waits in `pre-switchover` (bulk pass done, PART records written) we change guest RAM through the
// gdbstub, then `migrate-continue`: ram_save_complete re-sends exactly the pages we dirtied.
// Expected (spec 2.6, hand-derived): a page zeroed after it was sent has its bit cleared and its old bytes
// left in place (zero-page-detection multifd/legacy) or zeros written with its bit set (none); rewritten
// pages hold the new bytes; a zero page made non-zero is written with its bit set. And our writer, given
// the same round, writes the same bytes up to the end of the RAM section.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, expect, it } from "vitest";
import { extractBlocks } from "../../src/impl/extract.js";
import { parseStream } from "../../src/impl/reader.js";
import { FileSource } from "../../src/impl/source.js";
import { saveMappedRam } from "../../src/impl/writer.js";
import {
  GdbClient,
  migrate,
  QemuProcess,
  setCapabilities,
  setParameters,
  waitForMigration,
} from "../../src/qemu/index.js";
import { makeImage } from "../helpers/images.js";
import { describeQemu, suiteQemu } from "../helpers/qemu.js";

const PAGES = 2048; // 8 MiB "r" on a pc machine: RAM at guest-physical 0
// Changes made while QEMU waits (page index -> new content). spec8 pattern: page 5 = all 0x07,
// page 6 = last byte 0xaa, page 8 = zero, page 9 = all 0x07, page 12 = zero.
const CHANGES: Array<[number, Uint8Array]> = [
  [5, new Uint8Array(4096)], // non-zero -> zero
  [6, new Uint8Array(4096).fill(0x66)], // rewritten
  [8, new Uint8Array(4096).fill(0x88)], // zero -> non-zero
  [9, Uint8Array.from({ length: 4096 }, (_, i) => (i < 16 ? 0 : 0x07))], // partly zeroed, still non-zero
  [1500, new Uint8Array(4096)], // 0x55 page -> zero
];

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
});
afterAll(async () => {
  await dir.cleanup();
});

async function qemuLiveSave(name: string, caps: Record<string, boolean>, params: Record<string, unknown>) {
  const image = join(dir.path, `${name}.img`);
  await writeFile(image, makeImage("spec8", PAGES));
  const file = join(dir.path, `${name}.mig`);
  const gdbSock = join(dir.path, `${name}.gdb`);
  const q = await QemuProcess.start({
    binary: suiteQemu(),
    machine: "pc",
    memoryBackend: "r",
    memoryBackends: [{ id: "r", size: PAGES * 4096, memPath: image }],
    extraArgs: ["-gdb", `unix:${gdbSock},server=on,wait=off`],
  });
  try {
    await setCapabilities(q, { "mapped-ram": true, "pause-before-switchover": true, ...caps });
    await setParameters(q, { "max-bandwidth": 2 ** 40, ...params });
    await migrate(q, `file:${file}`);
    for (let i = 0; ; i++) {
      const info = await q.execute("query-migrate");
      if (info.status === "pre-switchover") break;
      if (info.status === "failed" || info.status === "completed" || i > 2000)
        throw new Error(`status ${info.status}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const gdb = await GdbClient.connect(gdbSock);
    try {
      for (const [page, data] of CHANGES) await gdb.writePhysical(BigInt(page) * 4096n, data);
    } finally {
      gdb.close();
    }
    await q.execute("migrate-continue", { state: "pre-switchover" });
    const done = await waitForMigration(q, 30_000);
    expect(done.errorDesc ?? done.status).toBe("completed");
  } finally {
    await q.stop();
  }
  return { file, image };
}

/** Our writer, given QEMU's block list and the same round, up to the end of the RAM section. */
async function ourLiveSave(qfile: string, zpd: "none" | "legacy" | "multifd", channels: number | null) {
  const src = await FileSource.open(qfile);
  try {
    const s = await parseStream(src);
    // ROM blocks are not touched by the round: their contents come from QEMU's file; "r" starts as the image.
    const roms = await extractBlocks(src, `${qfile}.roms`);
    const initial = makeImage("spec8", PAGES);
    const ramSection = s.records.find((r) => r.kind === "section" && r.type === "start");
    if (ramSection?.kind !== "section" || !s.configuration) throw new Error("no RAM section");
    const ours = `${qfile}.ours`;
    const blocks = await Promise.all(
      s.ramBlocks.map(async (b) => {
        const bytes =
          b.idstr === "r"
            ? initial
            : new Uint8Array(await readFile(roms.blocks.find((x) => x.idstr === b.idstr)?.file ?? ""));
        return {
          idstr: b.idstr,
          usedLength: b.usedLength,
          image: {
            readInto: async (off: bigint, into: Uint8Array) => {
              into.set(bytes.subarray(Number(off), Number(off) + into.length));
              return Math.min(into.length, bytes.length - Number(off));
            },
          },
        };
      }),
    );
    const parts = s.records.filter((r) => r.kind === "section" && r.type === "part").length;
    const end = s.records.find((r) => r.kind === "section" && r.type === "end");
    if (end?.kind !== "section" || end.footerOffset === undefined) throw new Error("no END");
    await saveMappedRam(ours, {
      offset: 0n,
      configuration: s.configuration,
      ramSection: ramSection.section,
      blocks,
      partSections: parts,
      switchoverStart: s.records.some((r) => r.kind === "command" && r.command === 0x0b),
      devices: [],
      vmdesc: null,
      zeroPageDetection: zpd,
      multifdChannels: channels,
      rounds: [CHANGES.map(([page, data]) => ({ block: "r", page, data }))],
    });
    return {
      ours,
      ramEnd: Number(end.footerOffset) + 5,
      pagesOffset: Number(s.ramBlocks[0]?.mappedRam?.pagesOffset),
      bitmapOffset: Number(s.ramBlocks[0]?.mappedRam?.bitmapOffset),
    };
  } finally {
    await src.close();
  }
}

const bit = (bm: Uint8Array, i: number) => ((bm[i >> 3] as number) >> (i & 7)) & 1;

describeQemu("live rounds: QEMU 10.0.2 with pause-before-switchover, RAM changed over the gdbstub", () => {
  for (const [name, caps, params, zpd, channels] of [
    ["mapped-ram, zero-page-detection multifd", {}, {}, "multifd", null],
    ["mapped-ram + multifd 2 channels", { multifd: true }, { "multifd-channels": 2 }, "multifd", 2],
    [
      "mapped-ram + multifd 3 channels, legacy",
      { multifd: true },
      { "multifd-channels": 3, "zero-page-detection": "legacy" },
      "legacy",
      3,
    ],
    ["mapped-ram, zero-page-detection none", {}, { "zero-page-detection": "none" }, "none", null],
  ] as const) {
    it(name, async () => {
      const tag = name.replace(/[^a-z0-9]+/g, "-");
      const { file } = await qemuLiveSave(tag, caps, params);
      const q = new Uint8Array(await readFile(file));
      const { ours, ramEnd, pagesOffset, bitmapOffset } = await ourLiveSave(file, zpd, channels);
      // block "r" is the largest, so it comes first in the RAM list (pages 0x100000 on a pc machine)
      expect(pagesOffset).toBe(0x100000);
      const page = (i: number) => q.subarray(pagesOffset + i * 4096, pagesOffset + (i + 1) * 4096);
      const bm = q.subarray(bitmapOffset, bitmapOffset + PAGES / 8);
      if (zpd === "none") {
        expect(bit(bm, 5)).toBe(1);
        expect(page(5).every((b) => b === 0)).toBe(true);
      } else {
        // turned zero after it was sent: bit cleared, the old 0x07 bytes stay in the file
        expect(bit(bm, 5)).toBe(0);
        expect(page(5).every((b) => b === 0x07)).toBe(true);
        expect(bit(bm, 1500)).toBe(0);
        expect(page(1500).every((b) => b === 0x55)).toBe(true);
      }
      expect([bit(bm, 6), page(6).every((b) => b === 0x66)]).toEqual([1, true]);
      expect([bit(bm, 8), page(8).every((b) => b === 0x88)]).toEqual([1, true]);
      expect([bit(bm, 9), page(9)[15], page(9)[16]]).toEqual([1, 0, 0x07]);
      // and our writer writes the same bytes, up to the end of the RAM section
      const o = new Uint8Array(await readFile(ours));
      expect(o.length).toBeGreaterThanOrEqual(ramEnd);
      expect(Buffer.compare(o.subarray(0, ramEnd), q.subarray(0, ramEnd))).toBe(0);
    });
  }
});
