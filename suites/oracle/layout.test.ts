// expectedLayout / expectedBitmap against the spec's worked examples (numbers copied by hand from
// /work/shared/spec/mapped-ram-format.md 2.3, 4.4 and 8.1, observed on QEMU 10.0.2).
import { describe, expect, it } from "vitest";
import { bitmapSizeFor, expectedBitmap, expectedLayout, preambleLength } from "../../src/oracle/index.js";
import { makeImage } from "../helpers/images.js";

const MIB = 0x100000n;

describe("expectedLayout", () => {
  it("one 8 MiB block r at offset 0 (spec 2.3 / 8.1)", () => {
    const l = expectedLayout([{ idstr: "r", usedLength: 8n * MIB }], { startOffset: 0n });
    expect(l.ramSectionOffset).toBe(0x40n);
    expect(l.memSizeOffset).toBe(0x51n);
    const b = l.blocks[0];
    expect(b).toMatchObject({
      recordOffset: 0x59n,
      headerOffset: 0x63n,
      bitmapOffset: 0x7fn,
      bitmapSize: 256n,
      numPages: 2048n,
      pagesOffset: 0x100000n,
      resumeOffset: 0x900000n,
      mrAddrOffset: undefined,
    });
    expect(l.resumeOffset).toBe(0x900000n);
    expect(l.totalLength).toBe(8n * MIB);
  });

  it("default RAM block `ram` shifts the header by 2 (spec 8.1: header 0x65, bitmap 0x81)", () => {
    const b = expectedLayout([{ idstr: "ram", usedLength: 8n * MIB }]).blocks[0];
    expect(b?.headerOffset).toBe(0x65n);
    expect(b?.bitmapOffset).toBe(0x81n);
  });

  // spec 4.4: offsets are absolute; 1 MiB rounding is on absolute positions
  it.each([
    [0n, 0x63n, 0x7fn, 0x100000n],
    [0x1000n, 0x1063n, 0x107fn, 0x100000n],
    [12345n, 0x309cn, 0x30b8n, 0x100000n],
    [MIB, 0x100063n, 0x10007fn, 0x200000n],
    [0x1fff00n, 0x1fff63n, 0x1fff7fn, 0x300000n],
  ])("file: offset %s (spec 4.4 table)", (startOffset, header, bitmap, pages) => {
    const b = expectedLayout([{ idstr: "r", usedLength: 8n * MIB }], { startOffset }).blocks[0];
    expect([b?.headerOffset, b?.bitmapOffset, b?.pagesOffset]).toEqual([header, bitmap, pages]);
    expect(b?.resumeOffset).toBe(pages + 8n * MIB);
  });

  it("the pc multi-block example (spec 2.3): every block gets a fresh 1 MiB slot", () => {
    const blocks = [
      { idstr: "r", usedLength: 64n * MIB },
      { idstr: "/rom@etc/acpi/tables", usedLength: 0x20000n },
      { idstr: "pc.bios", usedLength: 0x40000n },
      { idstr: "pc.rom", usedLength: 0x20000n },
      { idstr: "/rom@etc/table-loader", usedLength: 0x1000n },
      { idstr: "/rom@etc/acpi/rsdp", usedLength: 0x1000n },
    ];
    const l = expectedLayout(blocks, { machine: "pc-i440fx-10.0" });
    const got = l.blocks.map((b) => [b.idstr, b.headerOffset, b.bitmapOffset, b.pagesOffset]);
    expect(got[0]).toEqual(["r", 0x6dn, 0x89n, 0x100000n]);
    expect(got[1]).toEqual(["/rom@etc/acpi/tables", 0x410001dn, 0x4100039n, 0x4200000n]);
    expect(got[2]?.[1]).toBe(0x4220010n);
    expect(got[2]?.[3]).toBe(0x4300000n);
    expect(got[3]?.[1]).toBe(0x434000fn);
    expect(got[3]?.[3]).toBe(0x4400000n);
    expect(got[4]?.[3]).toBe(0x4500000n);
    expect(got[5]?.[3]).toBe(0x4600000n);
  });

  it("x-ignore-shared adds be64 mr->addr before every header and lists both capabilities", () => {
    const caps = ["x-ignore-shared", "mapped-ram"];
    const l = expectedLayout([{ idstr: "r", usedLength: 8n * MIB }], { capabilities: caps });
    // capabilities: 4 + (1+15) + (1+10) = 31 bytes instead of 15: +16; record: +8
    expect(l.blocks[0]?.recordOffset).toBe(0x59n + 16n);
    expect(l.blocks[0]?.mrAddrOffset).toBe(0x59n + 16n + 10n);
    expect(l.blocks[0]?.headerOffset).toBe(0x63n + 16n + 8n);
  });

  it("no capabilities: no subsection at all", () => {
    expect(preambleLength({ capabilities: [] })).toBe(4n + 4n + 1n + 4n + 4n);
    expect(preambleLength()).toBe(0x40n);
  });

  it("a bitmap that does not fit before the next MiB pushes the pages a MiB further", () => {
    // bitmap starts at 0x100000 - 0x20; 0x20 bytes hold 256 pages, 257 pages need 0x28
    const start = MIB - 0x20n - 0x7fn;
    const fits = expectedLayout([{ idstr: "r", usedLength: 256n * 4096n }], { startOffset: start }).blocks[0];
    const spills = expectedLayout([{ idstr: "r", usedLength: 257n * 4096n }], { startOffset: start })
      .blocks[0];
    expect(fits?.bitmapOffset).toBe(MIB - 0x20n);
    expect(fits?.pagesOffset).toBe(MIB);
    expect(spills?.pagesOffset).toBe(2n * MIB);
  });

  it("bitmap sizes are whole 8-byte words", () => {
    expect([0n, 1n, 64n, 65n, 2048n].map(bitmapSizeFor)).toEqual([0n, 8n, 8n, 16n, 256n]);
  });
});

describe("expectedBitmap", () => {
  it("the spec 8 pattern gives ee ee ... and e0 for pages 1096-1103 (spec 2.5)", () => {
    const bm = expectedBitmap(makeImage("spec8", 2048));
    expect(bm.length).toBe(256);
    expect(bm[0]).toBe(0xee);
    expect(bm[1096 / 8]).toBe(0xe0);
    let set = 0;
    for (const b of bm) for (let i = 0; i < 8; i++) set += (b >> i) & 1;
    expect(set).toBe(1486); // 562 zero pages of 2048 (spec 8)
  });

  it("zero-page-detection=none sets every bit, and none past num_pages", () => {
    const bm = expectedBitmap(makeImage("allZero", 70), { zeroPageDetection: "none" });
    expect([...bm]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("an all-zero image has an all-clear bitmap", () => {
    expect(expectedBitmap(makeImage("allZero", 64)).every((b) => b === 0)).toBe(true);
  });
});
