// migration/ram.c: ram_load_precopy, parse_ramblocks, parse_ramblock_mapped_ram (the reader's walk);
// the writer's rules (mapped_ram_setup_ramblock) come from layout.ts.
//
// RAM section payload: be64 records `address | flags` (flags = low 12 bits) until EOS (0x10).
// MEM_SIZE (0x04) carries the total and is followed by one record per block:
//
// | bytes   | field                                         |
// |---------|-----------------------------------------------|
// | 1 + len | idstr (u8 length, bytes)                      |
// | 8       | be64 used_length                              |
// | 8       | be64 mr->addr, only with x-ignore-shared      |
// | 28      | MappedRamHeader (all big endian):             |
// |         |   +0 be32 version, +4 be64 page_size,         |
// |         |   +12 be64 bitmap_offset, +20 be64 pages_offset |
//
// then the stream resumes at pages_offset + used_length.
import { hex, quote, u32be, u64be } from "./bytes.js";
import {
  ALIGNMENT,
  FORBIDDEN_RAM_FLAGS,
  HEADER_SIZE,
  HEADER_VERSION,
  PAGE_SIZE,
  RamFlag,
} from "./constants.js";
import { blockLayout } from "./layout.js";
import type { StreamReader } from "./reader.js";
import type { Step, Walk } from "./walk.js";

const FLAG_MASK = PAGE_SIZE - 1n;
const EOS_RECORD = BigInt(RamFlag.EOS);

export type RamSectionKind = "start" | "part" | "end";

/** One RAM section payload, up to and including its EOS. */
export async function walkRamPayload(w: Walk, r: StreamReader, kind: RamSectionKind): Promise<Step> {
  let sawMemSize = false;
  const firstRecord = r.pos;
  for (;;) {
    const at = r.pos;
    const record = await r.u64be();
    if (record === undefined) return w.truncated(at, 8n, "ram section", "record");
    const flags = Number(record & FLAG_MASK);
    const subject = `ram record at ${hex(at)}`;
    if ((flags & FORBIDDEN_RAM_FLAGS) !== 0) {
      w.report("ram.flags.forbidden", at, {
        subject,
        field: "flags",
        rule: `must not contain ZERO, PAGE, XBZRLE, HOOK or MULTIFD_FLUSH (${hex(FORBIDDEN_RAM_FLAGS)}); the rest of the stream is not checked`,
        actual: hex(flags),
      });
      return "stop";
    }
    const base = flags & ~RamFlag.CONTINUE;
    if (base !== RamFlag.MEM_SIZE && base !== RamFlag.EOS) {
      w.report("ram.flags.unknown", at, {
        subject,
        field: "flags",
        rule: "must be MEM_SIZE (0x4) or EOS (0x10); the rest of the stream is not checked",
        actual: hex(flags),
      });
      return "stop";
    }
    if ((flags & RamFlag.CONTINUE) !== 0) {
      w.report("ram.flags.continue", at, {
        subject,
        field: "flags",
        rule: "must not carry CONTINUE (0x20)",
        actual: hex(flags),
      });
    }
    if (base === RamFlag.EOS) break;
    sawMemSize = true;
    w.memSizeCount++;
    if (w.memSizeCount > 1) {
      w.report("ram.memSize.repeated", at, {
        subject,
        field: "MEM_SIZE",
        rule: "must appear once, in the ram START section",
      });
    }
    if ((await walkBlocks(w, r, at, record & ~FLAG_MASK)) === "stop") return "stop";
  }
  if (kind === "start" && !sawMemSize) {
    w.report("ram.memSize.missing", firstRecord, {
      subject: "ram START section",
      field: "MEM_SIZE",
      rule: "must come first: without it no RAM is loaded",
    });
  }
  return "ok";
}

/** `parse_ramblocks`: block records until the total is used up (or, when it is wrong, until EOS). */
async function walkBlocks(w: Walk, r: StreamReader, memSizeAt: bigint, total: bigint): Promise<Step> {
  let sum = 0n;
  const names = new Set<string>();
  for (;;) {
    const next = await r.take(8);
    if (next !== undefined) r.pos -= 8n;
    const atEos = next !== undefined && u64be(next, 0) === EOS_RECORD;
    if (atEos || sum === total) break;
    if ((await walkBlock(w, r, names)) === "stop") return "stop";
    sum += w.blocks.at(-1)?.usedLength ?? 0n;
  }
  if (sum !== total) {
    w.report("ram.memSize.mismatch", memSizeAt, {
      subject: "MEM_SIZE record",
      field: "total",
      rule: `must be the sum of the blocks' used_length (${hex(sum)})`,
      expected: hex(sum),
      actual: hex(total),
    });
  }
  return "ok";
}

async function walkBlock(w: Walk, r: StreamReader, names: Set<string>): Promise<Step> {
  const recordOffset = r.pos;
  const idstr = await r.counted();
  if (idstr === undefined) return w.truncated(recordOffset, 1n, "ramblock record", "idstr");
  const subject = `ramblock ${quote(idstr)}`;
  const lengthAt = r.pos;
  const usedLength = await r.u64be();
  if (usedLength === undefined) return w.truncated(lengthAt, 8n, subject, "used_length");
  if (idstr.length === 0) {
    w.report("ram.block.idstr.empty", recordOffset, { subject, field: "idstr", rule: "must not be empty" });
  } else if (names.has(idstr)) {
    w.report("ram.block.idstr.duplicate", recordOffset, {
      subject,
      field: "idstr",
      rule: "must name each block once under one MEM_SIZE",
    });
  }
  names.add(idstr);
  if (usedLength % PAGE_SIZE !== 0n) {
    w.report("ram.block.usedLength.unaligned", lengthAt, {
      subject,
      field: "used_length",
      rule: `must be a multiple of ${hex(PAGE_SIZE)}`,
      actual: hex(usedLength),
    });
  } else if (usedLength === 0n) {
    w.report("ram.block.usedLength.zero", lengthAt, { subject, field: "used_length", rule: "must not be 0" });
  }

  const mrAddrOffset = await findMrAddr(w, r, subject);
  if (mrAddrOffset === "stop") return "stop";
  const headerOffset = r.pos;
  const hdr = await r.take(Number(HEADER_SIZE));
  if (hdr === undefined) return w.truncated(headerOffset, HEADER_SIZE, subject, "MappedRamHeader");
  const headerEnd = r.pos;
  const version = u32be(hdr, 0);
  const pageSize = u64be(hdr, 4);
  const bitmapOffset = u64be(hdr, 12);
  const pagesOffset = u64be(hdr, 20);
  const expected = blockLayout(
    recordOffset,
    { idstr, usedLength },
    {
      capabilities: mrAddrOffset === undefined ? [] : ["x-ignore-shared"],
    },
  );
  const hsub = `${subject} MappedRamHeader`;

  if (version > HEADER_VERSION) {
    w.report("ram.header.version.unsupported", headerOffset, {
      subject: hsub,
      field: "version",
      rule: `must be at most ${HEADER_VERSION}`,
      expected: String(HEADER_VERSION),
      actual: String(version),
    });
  } else if (version === 0) {
    w.report("ram.header.version.zero", headerOffset, {
      subject: hsub,
      field: "version",
      rule: `must be ${HEADER_VERSION} (0 is accepted but never written)`,
      expected: String(HEADER_VERSION),
      actual: "0",
    });
  }
  if (pageSize !== PAGE_SIZE) {
    w.report("ram.header.pageSize.invalid", headerOffset + 4n, {
      subject: hsub,
      field: "page_size",
      rule: `must be ${PAGE_SIZE}`,
      expected: String(PAGE_SIZE),
      actual: String(pageSize),
    });
  }
  // what every block record says, ignored or not
  const observed = {
    idstr,
    usedLength,
    recordOffset,
    mrAddrOffset,
    headerOffset,
    version,
    pageSize,
    bitmapOffset,
    pagesOffset,
    numPages: expected.numPages,
  };
  if (mrAddrOffset !== undefined && bitmapOffset === 0n && pagesOffset === 0n) {
    // QEMU 11.0+ ("migration: Fix writing mapped_ram + ignore_shared snapshots"): a block whose RAM is
    // shared memory carries a header with zero offsets and no reserved region; the stream goes on.
    w.report("ram.block.ignored", headerOffset + 12n, {
      subject: hsub,
      field: "bitmap_offset, pages_offset",
      rule: "are 0: the block is ignored under x-ignore-shared (QEMU 11.0 format), its RAM is not in the file",
    });
    w.blocks.push({ ...observed, bitmapSize: 0n, resumeOffset: headerEnd, ignored: true });
    return "ok";
  }
  if (bitmapOffset !== headerEnd) {
    w.report("ram.header.bitmapOffset.notAfterHeader", headerOffset + 12n, {
      subject: hsub,
      field: "bitmap_offset",
      rule: `must be the end of the header (${hex(headerEnd)})`,
      expected: hex(headerEnd),
      actual: hex(bitmapOffset),
    });
  }
  checkPagesOffset(w, hsub, headerOffset + 20n, pagesOffset, expected.pagesOffset);

  const resumeOffset = pagesOffset + usedLength;
  const block = { ...observed, bitmapSize: expected.bitmapSize, resumeOffset };
  w.blocks.push(block);
  w.regions.push({
    start: bitmapOffset,
    end: bitmapOffset + block.bitmapSize,
    label: `the bitmap of ${subject}`,
  });
  w.regions.push({ start: pagesOffset, end: resumeOffset, label: `the page array of ${subject}` });

  if (bitmapOffset + block.bitmapSize > w.size) {
    w.report("ram.bitmap.outOfFile", bitmapOffset, {
      subject,
      field: "bitmap",
      rule: `[${hex(bitmapOffset)}, ${hex(bitmapOffset + block.bitmapSize)}) must lie inside the file (size ${hex(w.size)})`,
      expected: `end <= ${hex(w.size)}`,
      actual: hex(bitmapOffset + block.bitmapSize),
    });
  }
  if (resumeOffset < headerEnd) {
    w.jump(headerEnd, headerEnd);
    w.report("ram.layout.resumeBeforeHeader", headerOffset + 20n, {
      subject: hsub,
      field: "pages_offset",
      rule: `+ used_length (${hex(resumeOffset)}) must not be before the header end (${hex(headerEnd)}); the rest of the stream is not checked`,
      expected: `>= ${hex(headerEnd)}`,
      actual: hex(resumeOffset),
    });
    return "stop";
  }
  w.jump(headerEnd, resumeOffset);
  if (resumeOffset > w.size) {
    w.report("ram.pages.outOfFile", pagesOffset, {
      subject,
      field: "page array",
      rule: `[${hex(pagesOffset)}, ${hex(resumeOffset)}) must lie inside the file (size ${hex(w.size)}), the stream resumes at its end; the rest of the stream is not checked`,
      expected: `end <= ${hex(w.size)}`,
      actual: hex(resumeOffset),
    });
    return "stop";
  }
  r.seek(resumeOffset);
  return "ok";
}

function checkPagesOffset(w: Walk, subject: string, at: bigint, pagesOffset: bigint, expected: bigint): void {
  if (pagesOffset % PAGE_SIZE !== 0n) {
    w.report("ram.header.pagesOffset.misaligned", at, {
      subject,
      field: "pages_offset",
      rule: `must be a multiple of ${hex(PAGE_SIZE)}`,
      expected: hex(expected),
      actual: hex(pagesOffset),
    });
  } else if (pagesOffset % ALIGNMENT !== 0n) {
    w.report("ram.header.pagesOffset.notMibAligned", at, {
      subject,
      field: "pages_offset",
      rule: `must be a multiple of ${hex(ALIGNMENT)}`,
      expected: hex(expected),
      actual: hex(pagesOffset),
    });
  } else if (pagesOffset !== expected) {
    w.report("ram.header.pagesOffset.unexpected", at, {
      subject,
      field: "pages_offset",
      rule: `must be the first ${hex(ALIGNMENT)} boundary after the bitmap (${hex(expected)})`,
      expected: hex(expected),
      actual: hex(pagesOffset),
    });
  }
}

/**
 * With x-ignore-shared listed, QEMU 10.0.2's writer puts be64 mr->addr before the header, and its
 * reader does not read it. Decide where the header is by which position has bitmap_offset equal to
 * its own end. Returns the mr->addr offset (reader moved past it), undefined, or "stop".
 */
async function findMrAddr(w: Walk, r: StreamReader, subject: string): Promise<bigint | undefined | "stop"> {
  if (!w.ignoreShared) return undefined;
  const at = r.pos;
  const bytes = await r.take(Number(HEADER_SIZE) + 8);
  r.seek(at);
  if (bytes === undefined) return undefined; // the header read reports the truncation
  const headerHere = u64be(bytes, 12) === at + HEADER_SIZE;
  // after mr->addr: a header whose bitmap follows it, or (QEMU 11.0+) an ignored block's header with
  // bitmap_offset == pages_offset == 0
  const headerAfterAddr =
    u64be(bytes, 20) === at + 8n + HEADER_SIZE || (u64be(bytes, 20) === 0n && u64be(bytes, 28) === 0n);
  if (headerHere || !headerAfterAddr) {
    w.report("ram.block.mrAddr.missing", at, {
      subject,
      field: "mr->addr",
      rule: "must precede the header when x-ignore-shared is listed",
    });
    return undefined;
  }
  if (!w.findings.some((f) => f.id === "config.capabilities.ignoreShared")) {
    w.report("config.capabilities.ignoreShared", at, {
      subject,
      field: "mr->addr",
      rule: "is written by QEMU 10.0.2 under x-ignore-shared but its loader reads the header here",
    });
  }
  r.seek(at + 8n);
  return at;
}
