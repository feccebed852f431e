// A sample of random QEMU-runnable scenarios per run (fast-check, FC_SEED replays; FC_RUNS scales): a
// stopped `-M none` VM with one memory-backend-file block of random name, size and contents, saved by
// QEMU 10.0.2 to `file:` with a random offset (over a prefix QEMU must keep), multifd channel count and
// zero-page detection. Our writer, given the same parameters and K = the number of PART records in QEMU's
// file (the one timing-dependent thing, spec 2.8), must write the same bytes.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readMigrationFile } from "../../src/impl/reader.js";
import { writeMigrationFile } from "../../src/impl/save.js";
import { qemuSaveFile } from "../../src/qemu/index.js";
import { fcParams } from "../helpers/fc.js";
import { describeQemu, suiteQemu } from "../helpers/qemu.js";
import { blockPagesArb, edgeSizedPagesArb, imageOf, offsetArb, zpdArb } from "../helpers/scenario.js";

/** QOM ids (id_wellformed): a letter, then letters, digits, '-', '.', '_'; mostly short, sometimes long. */
const qomIdArb = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9._-]{0,20}$/) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("r", "ram", "M"), fc.integer({ min: 100, max: 254 }))
      .map(([head, n]) => head + "x".repeat(n - head.length)),
  },
);

const scenarioArb = fc.record({
  idstr: qomIdArb,
  pages: fc.oneof(blockPagesArb(700), edgeSizedPagesArb(700)),
  offset: offsetArb,
  channels: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }),
  zpd: zpdArb,
});

describeQemu("random QEMU-runnable scenarios: QEMU's file == our file", () => {
  let dir: { path: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    dir = await tmpDir({ unsafeCleanup: true });
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it("a sample of random block names, sizes, contents, offsets, channel counts and zero-page modes", async () => {
    const qemu = suiteQemu();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const base = join(dir.path, `run${run++}`);
        const image = `${base}.img`;
        await writeFile(image, imageOf(s.pages));
        // bytes before the offset are kept by QEMU (ftruncate(offset)); give it a non-zero prefix
        const prefix = new Uint8Array(Number(s.offset)).fill(0x58);
        const qfile = `${base}.qemu.mig`;
        await writeFile(qfile, prefix);
        const saved = await qemuSaveFile({
          binary: qemu,
          machine: "none",
          memoryBackend: s.idstr,
          backends: [{ id: s.idstr, path: image }],
          capabilities: { "mapped-ram": true, ...(s.channels === null ? {} : { multifd: true }) },
          parameters: {
            "zero-page-detection": s.zpd,
            ...(s.channels === null ? {} : { "multifd-channels": s.channels }),
          },
          file: qfile,
          offset: s.offset,
        });
        expect(saved.errorDesc ?? saved.status).toBe("completed");
        const parsed = await readMigrationFile(qfile, { offset: s.offset });
        expect(parsed.ramBlocks.map((b) => b.idstr)).toEqual([s.idstr]);
        const k = parsed.records.filter((r) => r.kind === "section" && r.type === "part").length;

        const ours = `${base}.ours.mig`;
        await writeFile(ours, prefix);
        await writeMigrationFile({
          path: ours,
          offset: s.offset,
          blocks: [{ idstr: s.idstr, image }],
          partSections: k,
          zeroPageDetection: s.zpd,
          ...(s.channels === null ? {} : { multifdChannels: s.channels }),
        });
        const q = await readFile(qfile);
        const o = await readFile(ours);
        expect(o.length).toBe(q.length);
        let first = 0;
        while (first < q.length && q[first] === o[first]) first++;
        expect(first, `first difference at 0x${first.toString(16)}`).toBe(q.length);
      }),
      fcParams(8, 20_000),
    );
  }, 180_000);
});
