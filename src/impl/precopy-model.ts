// migration/ram.c: ram_save_page / save_zero_page / ram_save_multifd_page and the section layout of an
// ordinary (non-mapped-ram) precopy stream, captured as a compact model: the RAM records of each section
// as runs of consecutive pages (one object per run, not per page). Page bytes stay in the source file;
// a run remembers where its first record is, and the writer copies the data from there.
//
// RAM record (be64 word: address | flags), as ram_load_precopy reads it:
// | flags                    | after the word                                               |
// | PAGE (0x08) [| CONTINUE] | [u8 len + idstr unless CONTINUE], 4096 bytes of page data     |
// | ZERO (0x02) [| CONTINUE] | [u8 len + idstr unless CONTINUE], u8 fill byte               |
// | MULTIFD_FLUSH (0x200)    | nothing                                                      |
// | EOS (0x10)               | nothing; ends the section payload                            |
import { fromLatin1, hex } from "./bytes.js";
import type { Configuration } from "./configuration.js";
import {
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_ZERO,
  TARGET_PAGE_MASK_N,
  TARGET_PAGE_SIZE_N,
} from "./constants.js";
import { MappedRamError } from "./errors.js";
import type { ParsedStream, SectionRecord } from "./reader.js";
import type { SectionId } from "./sections.js";
import { Cursor, type RandomAccessSource } from "./source.js";
import type { TailRecord } from "./writer.js";

/** Consecutive page records of one block with the same kind, all but the first with CONTINUE. */
export interface PageRun {
  kind: "page" | "zero";
  /** index into PrecopyModel.blocks */
  block: number;
  firstPage: number;
  count: number;
  /** ZERO records: the fill byte (always 0 in QEMU 10.0) */
  fill: number;
  /** the first record names its block (RAM_SAVE_FLAG_CONTINUE clear) */
  named: boolean;
  /** file offset of the first record in the source (its page data is copied from there) */
  source: bigint;
}

export type RamItem = PageRun | { kind: "flush" };

export interface PrecopyRamSection {
  kind: "ram";
  type: "start" | "part" | "end";
  items: RamItem[];
}

export type PrecopyRecord = PrecopyRamSection | Exclude<TailRecord, { kind: "ram-part" | "ram-end" }>;

export interface PrecopyBlock {
  idstr: string;
  usedLength: bigint;
  /** be64 mr->addr (x-ignore-shared) */
  mrAddr?: bigint;
}

/** Everything an ordinary precopy stream holds, with page data left in the source file. */
export interface PrecopyModel {
  /** `file:` offset of the stream */
  offset: bigint;
  /** absent when the stream has no configuration section */
  configuration?: Configuration;
  ramSection: SectionId;
  blocks: PrecopyBlock[];
  records: PrecopyRecord[];
  /** the vmdesc JSON text, or null when the stream ends at EOF */
  vmdesc: string | null;
}

/** The bytes of the records of a run, from its first record: [named header] + count records. */
export function runRecordBytes(run: PageRun, idstrLength: number): bigint {
  const body = run.kind === "page" ? 8n + TARGET_PAGE_SIZE_N : 9n;
  return BigInt(run.count) * body + (run.named ? BigInt(1 + idstrLength) : 0n);
}

function undecodable(offset: bigint, rule: string, actual?: string): MappedRamError {
  return new MappedRamError("ERR_UNDECODABLE", {
    subject: 'section "ram"',
    offset,
    rule,
    ...(actual === undefined ? {} : { actual }),
  });
}

/**
 * Captures the RAM records of every RAM section of a parsed ordinary stream, re-reading only the record
 * words and names (page data is skipped). `devices` maps each device record to the payload to write.
 */
export async function capturePrecopy(
  src: RandomAccessSource,
  stream: ParsedStream,
  devicePayload: (r: SectionRecord) => Uint8Array,
): Promise<PrecopyModel> {
  const blocks: PrecopyBlock[] = stream.ramBlocks.map((b) => ({
    idstr: b.idstr,
    usedLength: b.usedLength,
    ...(b.mrAddr === undefined ? {} : { mrAddr: b.mrAddr }),
  }));
  const byName = new Map(blocks.map((b, i) => [b.idstr, i]));
  const records: PrecopyRecord[] = [];
  let ramSection: SectionId | undefined;
  let last: number | undefined;
  for (const r of stream.records) {
    if (r.kind === "eof") {
      records.push({ kind: "eof" });
      continue;
    }
    if (r.kind === "command") {
      records.push({ kind: "command", command: r.command, data: r.data });
      continue;
    }
    if (!r.ram) {
      if (r.type !== "full") throw undecodable(r.offset, `non-RAM ${r.type} sections cannot be re-encoded`);
      records.push({ kind: "device", section: r.section, payload: devicePayload(r) });
      continue;
    }
    if (r.type === "full")
      throw undecodable(r.offset, "a RAM section written as SECTION_FULL cannot be re-encoded");
    ramSection ??= r.section;
    const items: RamItem[] = [];
    const c = new Cursor(src, r.payloadOffset);
    for (;;) {
      const at = c.pos;
      const word = await c.u64be('section "ram" RAM record', "flags");
      const flags = word & TARGET_PAGE_MASK_N;
      const addr = word & ~TARGET_PAGE_MASK_N;
      const kind = flags & ~RAM_SAVE_FLAG_CONTINUE;
      if (kind === RAM_SAVE_FLAG_EOS) {
        if (c.pos !== r.payloadEnd) throw undecodable(at, "EOS must end the section payload");
        break;
      }
      if (kind === RAM_SAVE_FLAG_MEM_SIZE) {
        if (r.type !== "start" || at !== r.payloadOffset) {
          throw undecodable(at, "RAM_SAVE_FLAG_MEM_SIZE must open the START payload");
        }
        let skip = 0n;
        for (const b of blocks) skip += BigInt(1 + b.idstr.length) + 8n + (b.mrAddr === undefined ? 0n : 8n);
        c.seek(c.pos + skip);
        continue;
      }
      if (kind === RAM_SAVE_FLAG_MULTIFD_FLUSH) {
        items.push({ kind: "flush" });
        continue;
      }
      if (kind !== RAM_SAVE_FLAG_PAGE && kind !== RAM_SAVE_FLAG_ZERO) {
        throw undecodable(at, "only PAGE, ZERO, MULTIFD_FLUSH and EOS records can be re-encoded", hex(flags));
      }
      const named = (flags & RAM_SAVE_FLAG_CONTINUE) === 0n;
      let block = last;
      if (named) {
        const name = fromLatin1(await c.countedBytes('section "ram" RAM record', "idstr"));
        block = byName.get(name);
      }
      if (block === undefined) throw undecodable(at, "page record names no known block");
      last = block;
      const page = Number(addr / TARGET_PAGE_SIZE_N);
      const isPage = kind === RAM_SAVE_FLAG_PAGE;
      const fill = isPage ? 0 : await c.u8('section "ram" zero page record', "fill");
      if (isPage) c.seek(c.pos + TARGET_PAGE_SIZE_N);
      const prev = items.at(-1);
      if (
        prev !== undefined &&
        prev.kind === (isPage ? "page" : "zero") &&
        !named &&
        prev.block === block &&
        prev.firstPage + prev.count === page &&
        prev.fill === fill
      ) {
        prev.count++;
      } else {
        items.push({
          kind: isPage ? "page" : "zero",
          block,
          firstPage: page,
          count: 1,
          fill,
          named,
          source: at,
        });
      }
    }
    records.push({ kind: "ram", type: r.type, items });
  }
  if (!ramSection) throw undecodable(stream.offset, "the stream has no RAM section");
  return {
    offset: stream.offset,
    ...(stream.configuration
      ? {
          configuration: {
            machineName: stream.configuration.machineName,
            capabilities: stream.configuration.capabilities,
            ...(stream.configuration.targetPageBits === undefined
              ? {}
              : { targetPageBits: stream.configuration.targetPageBits }),
            ...(stream.configuration.uuid === undefined ? {} : { uuid: stream.configuration.uuid }),
          },
        }
      : {}),
    ramSection,
    blocks,
    records,
    vmdesc: stream.vmdesc?.json ?? null,
  };
}
