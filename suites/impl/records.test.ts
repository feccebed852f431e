// Encoders and decoders of every record against bytes derived by hand from the spec
// (../shared/spec/mapped-ram-format.md sections 1.1-1.3, 2.3, 3, 8.1) — never from our own output.
import { describe, expect, it } from "vitest";
import { ByteWriter, hex, latin1, toSafeNumber, u64beArrayAt, viewOf } from "../../src/impl/bytes.js";
import { decodeConfiguration, encodeConfiguration } from "../../src/impl/configuration.js";
import { blockRegions } from "../../src/impl/layout.js";
import { configurationDesc, globalStateSection, timerSection } from "../../src/impl/machine.js";
import { decodeMappedRamHeader, encodeMappedRamHeader } from "../../src/impl/mapped-ram-header.js";
import { toQemuJson } from "../../src/impl/qemu-json.js";
import {
  encodeCommand,
  encodeFileHeader,
  encodeFullSection,
  encodeSectionFooter,
  encodeSectionHeader,
  encodeSectionShortHeader,
  encodeVmdesc,
} from "../../src/impl/sections.js";
import { Cursor, MemorySource } from "../../src/impl/source.js";

const bytes = (s: string) =>
  Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (h) => Number.parseInt(h, 16));
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");

describe("byte helpers", () => {
  it("builds a DataView over exactly the view's bytes", () => {
    const backing = new Uint8Array(16);
    const sub = backing.subarray(4, 12);
    const v = viewOf(sub);
    expect(v.byteOffset).toBe(4);
    expect(v.byteLength).toBe(8);
  });
  it("writes big-endian integers", () => {
    const b = new ByteWriter(1).u8(1).u16be(0x0203).u32be(0x04050607).u64be(0x08090a0b0c0d0e0fn).finish();
    expect([...b]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });
  it("reads a run of big-endian u64 values from a view's offset", () => {
    const backing = Uint8Array.from({ length: 40 }, (_, i) => i);
    const sub = backing.subarray(3); // byte i of sub is i + 3
    expect(u64beArrayAt(sub, 5, 3)).toEqual([0x08090a0b0c0d0e0fn, 0x1011121314151617n, 0x18191a1b1c1d1e1fn]);
    expect(u64beArrayAt(sub, 0, 0)).toEqual([]);
    expect(() => u64beArrayAt(sub, 30, 1)).toThrow(RangeError);
  });
  it("refuses a counted string over 255 bytes", () => {
    expect(() => new ByteWriter().countedString("x".repeat(256))).toThrow("longer than 255");
  });
  it("converts 64-bit values to numbers only when safe", () => {
    expect(toSafeNumber(2n ** 53n - 1n, "v")).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toSafeNumber(2n ** 53n, "used_length")).toThrow("used_length 0x20000000000000 does not fit");
  });
  it("refuses characters that are not one byte", () => {
    expect(() => latin1("é€")).toThrow("U+20ac");
  });
});

describe("file header and configuration (spec 1.1, 1.2, 8.1)", () => {
  it("encodes QEVM version 3", () => {
    expect(encodeFileHeader()).toEqual(bytes("51 45 56 4d 00 00 00 03"));
  });
  it("encodes the configuration of the reference file (machine none, mapped-ram)", () => {
    const expected = bytes(
      `07 00000004 ${ascii("none")} 05 1a ${ascii("configuration/capabilities")} 00000001 00000001 0a ${ascii("mapped-ram")}`,
    );
    expect(encodeConfiguration({ machineName: "none", capabilities: ["mapped-ram"] })).toEqual(expected);
    // spec 8.1: caps subsection ends just before 0x40 (8 bytes of header precede the configuration)
    expect(8 + expected.length).toBe(0x40);
  });
  it("encodes no subsection when no validated capability is on", () => {
    expect(encodeConfiguration({ machineName: "none", capabilities: [] })).toEqual(
      bytes(`07 00000004 ${ascii("none")}`),
    );
  });
  it("encodes the uuid subsection after capabilities", () => {
    const uuid = Uint8Array.from({ length: 16 }, (_, i) => i);
    const b = encodeConfiguration({ machineName: "pc", capabilities: [], uuid });
    expect(b).toEqual(
      bytes(
        `07 00000002 ${ascii("pc")} 05 12 ${ascii("configuration/uuid")} 00000001 000102030405060708090a0b0c0d0e0f`,
      ),
    );
  });
  it("decodes what it encodes, with offsets", async () => {
    const cfg = { machineName: "pc-q35-10.0", capabilities: ["x-ignore-shared", "mapped-ram"] };
    const enc = encodeConfiguration(cfg);
    const src = new MemorySource(new Uint8Array([0xff, ...enc, 0x01]));
    const c = new Cursor(src, 1n);
    const d = await decodeConfiguration(c);
    expect(d).toMatchObject({ ...cfg, offset: 1n, end: BigInt(1 + enc.length) });
  });
  it("accepts the RFC name fixed-ram but rejects an unknown capability with its offset", async () => {
    const ok = encodeConfiguration({ machineName: "none", capabilities: ["fixed-ram"] });
    await expect(decodeConfiguration(new Cursor(new MemorySource(ok), 0n))).resolves.toMatchObject({
      capabilities: ["fixed-ram"],
    });
    const bad = encodeConfiguration({ machineName: "none", capabilities: ["mapped-rom"] });
    // 07(1) + len(4) + "none"(4) + 05(1) + namelen(1) + name(26) + ver(4) + count(4) = 45 = 0x2d: the cap starts here
    await expect(decodeConfiguration(new Cursor(new MemorySource(bad), 0n))).rejects.toMatchObject({
      code: "ERR_INVALID_VALUE",
      offset: 0x2dn,
      field: "capability",
    });
  });
  it("reports a truncated configuration as truncation, not bad content", async () => {
    const enc = encodeConfiguration({ machineName: "none", capabilities: ["mapped-ram"] });
    const cut = enc.subarray(0, enc.length - 3);
    await expect(decodeConfiguration(new Cursor(new MemorySource(cut), 0n))).rejects.toMatchObject({
      code: "ERR_TRUNCATED",
      bytesRequested: 10n,
      bytesAvailable: 7n,
    });
  });
});

describe("section records (spec 1.3, 8.1)", () => {
  const ram = { sectionId: 1, idstr: "ram", instanceId: 0, versionId: 4 };
  it("encodes SECTION_START for ram as at 0x40 of the reference file", () => {
    expect(encodeSectionHeader(0x01, ram)).toEqual(bytes(`01 00000001 03 ${ascii("ram")} 00000000 00000004`));
  });
  it("encodes PART/END headers, footers and SWITCHOVER_START", () => {
    expect(encodeSectionShortHeader(0x02, 1)).toEqual(bytes("02 00000001"));
    expect(encodeSectionShortHeader(0x03, 1)).toEqual(bytes("03 00000001"));
    expect(encodeSectionFooter(3)).toEqual(bytes("7e 00000003"));
    expect(encodeCommand(0x0b)).toEqual(bytes("08 000b 0000"));
  });
  it("encodes the -M none device sections as observed at 0x900036 and 0x900066", () => {
    const timer = encodeFullSection(timerSection(0).section, timerSection(0).payload);
    expect(timer).toEqual(
      bytes(`04 00000000 05 ${ascii("timer")} 00000000 00000002 ${"00".repeat(24)} 7e 00000000`),
    );
    const gs = globalStateSection(3, "prelaunch");
    const full = encodeFullSection(gs.section, gs.payload);
    expect(full).toEqual(
      bytes(
        `04 00000003 0b ${ascii("globalstate")} 00000000 00000001 0000000a ${ascii("prelaunch")} ${"00".repeat(23)} 01 00 ${"00".repeat(66)} 7e 00000003`,
      ),
    );
    // 0x900066 + full.length = 0x9000ec, where EOF sits in the reference file
    expect(0x900066 + full.length).toBe(0x9000ec);
  });
  it("encodes the vmdesc with a be32 length and no terminator", () => {
    expect(encodeVmdesc('{"a": 1}')).toEqual(bytes(`06 00000008 ${ascii('{"a": 1}')}`));
  });
});

describe("MappedRamHeader (spec 2.3)", () => {
  it("encodes the reference header at 0x63", () => {
    const h = { version: 1, pageSize: 4096n, bitmapOffset: 0x7fn, pagesOffset: 0x100000n };
    const enc = encodeMappedRamHeader(h);
    expect(enc).toEqual(bytes("00000001 0000000000001000 000000000000007f 0000000000100000"));
    expect(decodeMappedRamHeader(enc)).toEqual(h);
  });
  it("refuses a header that is not 28 bytes", () => {
    expect(() => decodeMappedRamHeader(new Uint8Array(27))).toThrow("needs 28 bytes");
  });
});

describe("block layout (spec 2.3, 4.4)", () => {
  it("reproduces the offset table for an 8 MiB block at each file: offset", () => {
    // header position = offset + 0x63 (the stream before the header is 0x63 bytes long)
    const table: Array<[bigint, bigint, bigint, bigint]> = [
      [0n, 0x63n, 0x7fn, 0x100000n],
      [0x1000n, 0x1063n, 0x107fn, 0x100000n],
      [12345n, 0x309cn, 0x30b8n, 0x100000n],
      [0x100000n, 0x100063n, 0x10007fn, 0x200000n],
      [0x1fff00n, 0x1fff63n, 0x1fff7fn, 0x300000n],
    ];
    for (const [offset, hdr, bitmap, pages] of table) {
      const r = blockRegions(offset + 0x63n, 0x800000n);
      expect([hex(r.headerOffset), hex(r.bitmapOffset), hex(r.pagesOffset)]).toEqual([
        hex(hdr),
        hex(bitmap),
        hex(pages),
      ]);
      expect(r.bitmapSize).toBe(256n);
      expect(r.end).toBe(pages + 0x800000n);
    }
  });
  it("gives a 4 KiB block a whole 1 MiB-aligned slot and an 8-byte bitmap", () => {
    const r = blockRegions(0x4500010n, 0x1000n);
    expect(r.bitmapSize).toBe(8n);
    expect(r.pagesOffset).toBe(0x4600000n);
  });
  it("rounds the bitmap to whole 64-bit words for page counts that are not a multiple of 64", () => {
    expect(blockRegions(0n, 65n * 4096n).bitmapSize).toBe(16n);
    expect(blockRegions(0n, 64n * 4096n).bitmapSize).toBe(8n);
  });
});

describe("vmdesc JSON (spec 3)", () => {
  it("writes QEMU's compact separators", () => {
    expect(toQemuJson({ a: [1, "x"], b: { c: true } })).toBe('{"a": [1, "x"], "b": {"c": true}}');
  });
  it("describes two capabilities with array_len before type and the first element's size", () => {
    const d = configurationDesc({ machineName: "none", capabilities: ["x-ignore-shared", "mapped-ram"] });
    expect(toQemuJson(d)).toContain(
      '{"name": "capabilities", "array_len": 2, "type": "capability", "size": 16}',
    );
  });
  it("produces the 1024-byte reference JSON quoted in the spec", () => {
    const cfg = { machineName: "none", capabilities: ["mapped-ram"] };
    const json = toQemuJson({
      configuration: configurationDesc(cfg),
      page_size: 4096,
      devices: [timerSection(0).desc, globalStateSection(3, "prelaunch").desc],
    });
    expect(json.length).toBe(1024);
    expect(
      json.startsWith(
        '{"configuration": {"vmsd_name": "configuration", "version": 1, "fields": [{"name": "len"',
      ),
    ).toBe(true);
    expect(json.endsWith('{"name": "unused", "type": "buffer", "size": 66}]}]}')).toBe(true);
  });
});
