// Every malformed input ends in one typed error with a stable code, the file offset and the field.
// Base file: one block "r" of 64 pages at offset 0. Offsets below are derived from the spec's layout
// (section 8.1): MEM_SIZE 0x51, idstr 0x59, used_length 0x5b, MappedRamHeader 0x63 (version 0x63,
// page_size 0x67, bitmap_offset 0x6f, pages_offset 0x77), bitmap 0x7f (8 bytes), pages 0x100000,
// the stream resumes at 0x100000 + 0x40000 = 0x140000: EOS+footer (13 bytes), PART 0x14000d
// (EOS at 0x140012), COMMAND 0x14001f, END 0x140024 (EOS 0x140029, footer 0x140031), timer 0x140036,
// globalstate 0x140066, EOF 0x1400ec, vmdesc 0x1400ed (length 1024) ending at 0x1404f2.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ByteWriter } from "../../src/impl/bytes.js";
import { encodeConfiguration } from "../../src/impl/configuration.js";
import { MappedRamError } from "../../src/impl/errors.js";
import { extractBlocks } from "../../src/impl/extract.js";
import { parseStream } from "../../src/impl/reader.js";
import { writeMigrationFile } from "../../src/impl/save.js";
import { MemorySource } from "../../src/impl/source.js";
import { makeImage } from "../helpers/images.js";

let dir: { path: string; cleanup(): Promise<void> };
let good: Uint8Array;

beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
  const image = join(dir.path, "r.img");
  await writeFile(image, makeImage("zeroRuns", 64));
  const path = join(dir.path, "good.mig");
  await writeMigrationFile({ path, blocks: [{ idstr: "r", image }] });
  good = new Uint8Array(await readFile(path));
});
afterAll(async () => {
  await dir.cleanup();
});

function patched(edits: Array<[number, number[]]>, cut?: number): MemorySource {
  const b = good.slice(0, cut ?? good.length);
  for (const [at, bytes] of edits) b.set(bytes, at);
  return new MemorySource(b);
}

async function parseError(src: MemorySource): Promise<MappedRamError> {
  try {
    await parseStream(src);
  } catch (e) {
    if (e instanceof MappedRamError) return e;
    throw e;
  }
  throw new Error("expected a MappedRamError");
}

/**
 * An ordinary (non-mapped-ram) stream up to its first RAM record: header, configuration "none" without
 * capabilities, SECTION_START "ram" (id 1, v4), MEM_SIZE 0x2000 with one block "r" of 0x2000 bytes.
 */
function ordinaryStreamHead(): ByteWriter {
  return new ByteWriter()
    .u32be(0x5145564d)
    .u32be(3)
    .bytes(encodeConfiguration({ machineName: "none", capabilities: [] }))
    .u8(1)
    .u32be(1)
    .countedString("ram")
    .u32be(0)
    .u32be(4)
    .u64be(0x2000n | 0x4n)
    .countedString("r")
    .u64be(0x2000n);
}

const be64 = (v: bigint) => [...new ByteWriter(8).u64be(v).finish()];
const be32 = (v: number) => [...new ByteWriter(4).u32be(v).finish()];

describe("the base file is what the spec says", () => {
  it("has the expected size and parses", async () => {
    expect(good.length).toBe(0x1404f2);
    const s = await parseStream(new MemorySource(good));
    expect(s.ramBlocks[0]?.mappedRam).toMatchObject({
      headerOffset: 0x63n,
      bitmapOffset: 0x7fn,
      pagesOffset: 0x100000n,
    });
    expect(s.records.map((r) => (r.kind === "section" ? r.type : r.kind))).toEqual([
      "start",
      "part",
      "command",
      "end",
      "full",
      "full",
      "eof",
    ]);
  });
});

describe("typed errors with offsets", () => {
  const cases: Array<{
    name: string;
    src: () => MemorySource;
    code: string;
    offset: bigint;
    field?: string;
    message: string;
  }> = [
    {
      name: "bad magic",
      src: () => patched([[0, [0x51, 0x45, 0x56, 0x4e]]]),
      code: "ERR_BAD_MAGIC",
      offset: 0n,
      field: "magic",
      message: "cannot decode migration stream at offset 0x0: magic must be QEMU_VM_FILE_MAGIC 0x5145564d",
    },
    {
      name: "stream version 2",
      src: () => patched([[4, be32(2)]]),
      code: "ERR_UNSUPPORTED_VERSION",
      offset: 4n,
      field: "version",
      message: "cannot decode migration stream at offset 0x4: version SaveVM v2 format is obsolete",
    },
    {
      name: "MappedRamHeader version 2",
      src: () => patched([[0x63, be32(2)]]),
      code: "ERR_UNSUPPORTED_VERSION",
      offset: 0x63n,
      field: "version",
      message:
        'cannot decode ramblock "r" at offset 0x63: version Migration mapped-ram capability version not supported (expected <= 1, got 2)',
    },
    {
      name: "page_size 8192",
      src: () => patched([[0x67, be64(8192n)]]),
      code: "ERR_INVALID_VALUE",
      offset: 0x67n,
      field: "page_size",
      message:
        'cannot decode ramblock "r" at offset 0x67: page_size must be the target page size 0x1000. Received 0x2000',
    },
    {
      name: "pages_offset not page aligned",
      src: () => patched([[0x77, be64(0x100800n)]]),
      code: "ERR_INVALID_VALUE",
      offset: 0x77n,
      field: "pages_offset",
      message: 'cannot decode ramblock "r" at offset 0x77: pages_offset must be a multiple of 0x1000',
    },
    {
      name: "bitmap outside the file",
      src: () => patched([[0x6f, be64(0x2000000n)]]),
      code: "ERR_TRUNCATED",
      offset: 0x6fn,
      field: "bitmap_offset",
      message:
        'cannot decode ramblock "r" at offset 0x6f: bitmap_offset bitmap 0x2000000+0x8 must lie inside the file',
    },
    {
      name: "MULTIFD_FLUSH in a mapped-ram PART",
      src: () => patched([[0x140012, be64(0x200n)]]),
      code: "ERR_BAD_RAM_FLAGS",
      offset: 0x140012n,
      field: "flags",
      message: 'cannot decode section "ram" RAM record at offset 0x140012: flags Unexpected RAM flags: 512',
    },
    {
      name: "a ZERO record in a mapped-ram END",
      src: () => patched([[0x140029, be64(0x1002n)]]),
      code: "ERR_BAD_RAM_FLAGS",
      offset: 0x140029n,
      field: "flags",
      message: 'cannot decode section "ram" RAM record at offset 0x140029: flags Unexpected RAM flags: 2',
    },
    {
      name: "footer names another section",
      src: () => patched([[0x140032, be32(2)]]),
      code: "ERR_BAD_FOOTER",
      offset: 0x140032n,
      field: "footer section_id",
      message:
        'cannot decode section "ram" at offset 0x140032: footer section_id Mismatched section id in footer for ram - read 0x2 expected 0x1',
    },
    {
      name: "footer missing",
      src: () => patched([[0x140031, [0x00]]]),
      code: "ERR_BAD_FOOTER",
      offset: 0x140031n,
      field: "footer",
      message: 'cannot decode section "ram" at offset 0x140031: footer Missing section footer for ram',
    },
    {
      name: "MEM_SIZE smaller than the block",
      src: () => patched([[0x51, be64(0x20004n)]]),
      code: "ERR_INVALID_VALUE",
      offset: 0x5bn,
      field: "used_length",
      message:
        'cannot decode ramblock "r" at offset 0x5b: used_length must not exceed what is left of MEM_SIZE 0x20000',
    },
    {
      name: "an unknown record type after the configuration",
      src: () => patched([[0x40, [0x09]]]),
      code: "ERR_UNEXPECTED_RECORD",
      offset: 0x40n,
      field: "record type",
      message:
        "cannot decode migration stream at offset 0x40: record type must be a section, command or EOF record. Received 0x9",
    },
    {
      name: "PART for a section that never started",
      src: () => patched([[0x14000e, be32(7)]]),
      code: "ERR_UNEXPECTED_RECORD",
      offset: 0x14000en,
      field: "section_id",
      message:
        "cannot decode section header at offset 0x14000e: section_id names no section that was started. Received 7",
    },
    {
      name: "the file cut inside the tail",
      src: () => patched([], 0x140020),
      code: "ERR_TRUNCATED",
      // the type byte 08 at 0x14001f is the last byte; the be16 command would start at 0x140020
      offset: 0x140020n,
      field: "command",
      message:
        "cannot decode command record at offset 0x140020: command needs 2 bytes but the file has 0 left",
    },
    {
      name: "the file cut inside the MappedRamHeader",
      src: () => patched([], 0x6d),
      code: "ERR_TRUNCATED",
      offset: 0x63n,
      field: "MappedRamHeader",
      message:
        'cannot decode ramblock "r" at offset 0x63: MappedRamHeader needs 28 bytes but the file has 10 left',
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const e = await parseError(c.src());
      expect(e.code).toBe(c.code);
      expect(e.offset).toBe(c.offset);
      if (c.field) expect(e.field).toBe(c.field);
      expect(e.message.startsWith(c.message), e.message).toBe(true);
    });
  }

  // QEMU's loader has finished at EOF and ignores a broken vmdesc: so do we, keeping the problem.
  it("keeps a vmdesc that is not JSON as a problem, not an error", async () => {
    const s = await parseStream(patched([[0x1400f2, [0x5b, 0x5b]]]));
    expect(s.vmdesc).toBeUndefined();
    expect(s.vmdescProblem).toMatchObject({ code: "ERR_BAD_VMDESC", offset: 0x1400f2n });
    expect(
      s.vmdescProblem?.message.startsWith("cannot decode vmdesc at offset 0x1400f2: must be valid JSON"),
    ).toBe(true);
    expect(s.ramBlocks).toHaveLength(1);
  });
  it("keeps a vmdesc length past the end of the file as a problem", async () => {
    const s = await parseStream(patched([[0x1400ee, be32(0x100000)]]));
    expect(s.vmdescProblem).toMatchObject({ code: "ERR_TRUNCATED", offset: 0x1400f2n, field: "json" });
    expect(s.vmdescProblem?.message).toBe(
      "cannot decode vmdesc at offset 0x1400f2: json needs 1048576 bytes but the file has 1024 left",
    );
  });

  it("accepts MappedRamHeader version 0, as QEMU does", async () => {
    const s = await parseStream(patched([[0x63, be32(0)]]));
    expect(s.ramBlocks[0]?.mappedRam?.header.version).toBe(0);
  });

  it("reports truncation with bytesRequested/bytesAvailable", async () => {
    const e = await parseError(patched([], 0x6d));
    expect([e.bytesRequested, e.bytesAvailable]).toEqual([28n, 10n]);
  });

  it("still reads a good file after a bad one", async () => {
    await parseError(patched([[0, [0]]]));
    await expect(parseStream(new MemorySource(good))).resolves.toMatchObject({ fileSize: 0x1404f2n });
  });
});

describe("extract leaves nothing behind on bad input", () => {
  it("refuses a file whose page array lies past the end (the walk fails before any copy)", async () => {
    // pages_offset far past the end: the stream resumes past EOF, so the walk fails before any
    // page is copied — and no output may exist.
    const out = join(dir.path, "x1");
    const src = patched([[0x77, be64(0x7f000000n)]]);
    await expect(extractBlocks(src, out)).rejects.toMatchObject({ code: "ERR_TRUNCATED" });
    expect(await readdir(out)).toEqual([]);
  });

  it("removes partial block files of an ordinary stream cut inside its pages", async () => {
    // header, configuration without capabilities, START ram, MEM_SIZE 0x2000 with block "r" 0x2000,
    // a PAGE record for page 0 (0x1000 bytes), then the file ends inside the second PAGE record.
    const w = ordinaryStreamHead()
      .u64be(0x0n | 0x8n)
      .countedString("r")
      .bytes(new Uint8Array(4096).fill(0x33))
      .u64be(0x1000n | 0x8n | 0x20n)
      .bytes(new Uint8Array(100).fill(0x44));
    const out = join(dir.path, "x2");
    await expect(extractBlocks(new MemorySource(w.finish()), out)).rejects.toMatchObject({
      code: "ERR_TRUNCATED",
    });
    expect(await readdir(out)).toEqual([]);
  });

  it("refuses a zero page record with a non-zero fill byte, as QEMU does since 8.2", async () => {
    // header (8) + configuration "none" without capabilities (9) = 0x11: START (17 bytes); MEM_SIZE at
    // 0x22, block "r" 0x2a-0x33, ZERO record at 0x34 (be64 0x0|0x2), idstr "r" 0x3c-0x3d, fill byte at 0x3e.
    const w = ordinaryStreamHead()
      .u64be(0x0n | 0x2n)
      .countedString("r")
      .u8(5);
    const e = await parseError(new MemorySource(w.finish()));
    expect([e.code, e.offset, e.field]).toEqual(["ERR_INVALID_VALUE", 0x3en, "fill"]);
    expect(e.message).toBe(
      'cannot decode zero page record of "r" at offset 0x3e: fill Found a zero page with value 5. Received 5',
    );
  });
});
