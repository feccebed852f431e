// checkFile on correct files (built from the spec by the test builder): no findings at all.
import { describe, expect, it } from "vitest";
import { checkFile, expectedLayout, memorySource } from "../../src/oracle/index.js";
import { makeImage } from "../helpers/images.js";
import { type BuildSpec, buildFile } from "./helpers/builder.js";

const spec8 = makeImage("spec8", 2048);

const CASES: Array<[string, BuildSpec]> = [
  ["the spec 8.1 reference file", { blocks: [{ idstr: "r", pages: 2048, image: spec8 }] }],
  ["offset 0x1000", { offset: 0x1000n, blocks: [{ idstr: "r", pages: 2048, image: spec8 }] }],
  ["offset 12345", { offset: 12345n, blocks: [{ idstr: "r", pages: 2048, image: spec8 }] }],
  ["offset 1M", { offset: 0x100000n, blocks: [{ idstr: "r", pages: 2048, image: spec8 }] }],
  ["offset 0x1fff00", { offset: 0x1fff00n, blocks: [{ idstr: "r", pages: 2048 }] }],
  ["an all-zero block", { blocks: [{ idstr: "ram", pages: 2048 }] }],
  [
    "zero-page-detection=none",
    { zeroPageDetection: "none", blocks: [{ idstr: "r", pages: 2048, image: spec8 }] },
  ],
  [
    "several blocks of odd sizes",
    {
      blocks: [
        { idstr: "r", pages: 300, image: makeImage("zeroRuns", 300) },
        { idstr: "/rom@etc/acpi/tables", pages: 32, image: makeImage("lastByte", 32) },
        { idstr: "pc.bios", pages: 64, image: makeImage("noZero", 64) },
        { idstr: "x", pages: 1 },
      ],
    },
  ],
  ["no PART records", { parts: 0, blocks: [{ idstr: "r", pages: 16 }] }],
  ["37 PART records", { parts: 37, blocks: [{ idstr: "r", pages: 16 }] }],
  ["no SWITCHOVER_START (machine <= 9.2)", { switchover: false, blocks: [{ idstr: "r", pages: 16 }] }],
  ["a pc machine name", { machine: "pc-i440fx-10.0", blocks: [{ idstr: "r", pages: 16 }] }],
];

describe("checkFile on correct files", () => {
  it.each(CASES)("%s: no findings, and the blocks are where expectedLayout says", async (_name, spec) => {
    const built = buildFile(spec);
    const report = await checkFile(built.file, { offset: built.start });
    expect(report.findings).toEqual([]);
    const layout = expectedLayout(
      spec.blocks.map((b) => ({ idstr: b.idstr, usedLength: BigInt(b.pages * 4096) })),
      { startOffset: built.start, ...(spec.machine === undefined ? {} : { machine: spec.machine }) },
    );
    expect(report.blocks.map((b) => [b.idstr, b.headerOffset, b.bitmapOffset, b.pagesOffset])).toEqual(
      layout.blocks.map((b) => [b.idstr, b.headerOffset, b.bitmapOffset, b.pagesOffset]),
    );
  });

  it("--ram with the image the file was saved from: no findings", async () => {
    const built = buildFile({ blocks: [{ idstr: "r", pages: 2048, image: spec8 }] });
    const report = await checkFile(built.file, { ram: [{ idstr: "r", image: memorySource(spec8) }] });
    expect(report.findings).toEqual([]);
  });

  it("--ram on a zero-page-detection=none save: no findings (every bit set is accepted)", async () => {
    const built = buildFile({
      zeroPageDetection: "none",
      blocks: [{ idstr: "r", pages: 2048, image: spec8 }],
    });
    const ram = [{ idstr: "r", image: memorySource(spec8) }];
    expect((await checkFile(built.file, { ram })).findings).toEqual([]);
    expect((await checkFile(built.file, { ram, zeroPageDetection: "none" })).findings).toEqual([]);
    const strictDefault = await checkFile(built.file, { ram, zeroPageDetection: "multifd" });
    expect(strictDefault.findings.map((f) => f.id)).toEqual(["ram.image.bitmapMismatch"]);
  });

  it("a suppress-vmdesc file only gets an info finding", async () => {
    const built = buildFile({ vmdesc: false, blocks: [{ idstr: "r", pages: 16 }] });
    const report = await checkFile(built.file);
    expect(report.findings.map((f) => [f.id, f.severity, f.offset])).toEqual([
      ["vmdesc.missing", "info", built.eof + 1n],
    ]);
  });
});
