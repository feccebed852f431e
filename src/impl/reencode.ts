// `mrc reencode`: parse a QEMU migration file completely into models — SavePlan (mapped-ram) or
// PrecopyModel (ordinary precopy), device payloads as decoded VMState trees, the vmdesc as a value — and
// write it back with the reference writers. Byte identity of the result with the input is the proof that
// reader and writers agree on every byte.
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { dataInEither, pageRangesToRead } from "./allocation.js";
import type { PageBitmap } from "./bitmap.js";
import { hex, toSafeNumber } from "./bytes.js";
import type { Configuration } from "./configuration.js";
import {
  MAPPED_RAM_HDR_VERSION,
  MAPPED_RAM_LOAD_BUF_SIZE,
  TARGET_PAGE_SIZE,
  TARGET_PAGE_SIZE_N,
} from "./constants.js";
import { checkDeviceSections, type DeviceWalk } from "./devices.js";
import { MappedRamError } from "./errors.js";
import { readBlockBitmap } from "./extract.js";
import { blockRegions } from "./layout.js";
import { OutputFile } from "./output.js";
import { capturePrecopy, type PrecopyModel } from "./precopy-model.js";
import { writePrecopy } from "./precopy-writer.js";
import { type QemuJsonValue, toQemuJson } from "./qemu-json.js";
import type { ParsedRamBlock } from "./ram-load.js";
import { type ParsedStream, parseStream, type SectionRecord } from "./reader.js";
import { FileSource, type RandomAccessSource } from "./source.js";
import { tempPathFor } from "./temp-path.js";
import { encodeVmState } from "./vmstate/encode.js";
import {
  type DirtyPage,
  type PageReader,
  type SaveBlock,
  type SavePlan,
  saveMappedRam,
  type TailRecord,
} from "./writer.js";
import { isZeroPage, type ZeroPageDetection } from "./zero-page.js";

export interface ReencodeOptions {
  /** `file:` offset of the stream (default: where the reader finds it, 0 for a bare stream) */
  offset?: bigint;
  /** replace an existing output */
  force?: boolean;
  /** compare the output with the input (default true) */
  check?: boolean;
}

export interface ReencodeResult {
  mode: "mapped-ram" | "precopy";
  input: string;
  output: string;
  /** size of the output */
  fileSize: bigint;
  /** device sections re-encoded from their decoded fields */
  devices: number;
  /** the vmdesc was written from its parsed value (false: its text was kept, see notes) */
  vmdescFromValue: boolean;
  /** mapped-ram: the zero-page-detection mode that reproduces the bitmaps */
  zeroPageDetection?: ZeroPageDetection;
  /** mapped-ram: pages with a clear bit and old data (written, then found zero in a later round) */
  stalePages?: number;
  /** precopy: runs of page records in the model */
  runs?: number;
  /** with check: the output equals the input byte for byte */
  identical?: boolean;
  /** with check and a difference: the first differing offset */
  firstDifference?: bigint;
  notes: string[];
}

/** Everything parsed from one file that both writers share. */
interface ParsedFile {
  stream: ParsedStream;
  /** device payloads re-encoded from their walks, by record */
  payloads: Map<SectionRecord, Uint8Array>;
  vmdesc: string | null;
  vmdescFromValue: boolean;
  notes: string[];
}

const ZERO_PAGE = new Uint8Array(TARGET_PAGE_SIZE);

function cannot(subject: string, offset: bigint | undefined, rule: string): MappedRamError {
  return new MappedRamError("ERR_UNDECODABLE", { subject, offset, rule: `cannot be re-encoded: ${rule}` });
}

function plainConfiguration(stream: ParsedStream): Configuration | undefined {
  const c = stream.configuration;
  if (!c) return undefined;
  return {
    machineName: c.machineName,
    capabilities: [...c.capabilities],
    ...(c.targetPageBits === undefined ? {} : { targetPageBits: c.targetPageBits }),
    ...(c.uuid === undefined ? {} : { uuid: c.uuid }),
  };
}

async function parseFile(src: RandomAccessSource, offset: bigint | undefined): Promise<ParsedFile> {
  const stream = await parseStream(src, offset === undefined ? {} : { offset });
  const ignored = stream.ramBlocks.find((b) => b.mappedRam?.ignored);
  if (ignored) {
    throw cannot(
      `ramblock "${ignored.idstr}"`,
      ignored.mappedRam?.headerOffset,
      "blocks ignored under x-ignore-shared (QEMU 11.0 style) are not supported by the writer",
    );
  }
  if (stream.vmdescProblem) {
    throw cannot("vmdesc", stream.vmdescProblem.offset, `it is broken (${stream.vmdescProblem.message})`);
  }
  const notes: string[] = [];
  if (stream.end !== src.size) {
    throw cannot(
      "migration stream",
      stream.end,
      `${src.size - stream.end} bytes follow the end of the stream`,
    );
  }
  const check = await checkDeviceSections(src, stream);
  const payloads = new Map<SectionRecord, Uint8Array>();
  const full = stream.records.filter(
    (r): r is SectionRecord => r.kind === "section" && r.type === "full" && r.ram === undefined,
  );
  for (let i = 0; i < full.length; i++) {
    const r = full[i] as SectionRecord;
    const w = check.devices[i] as DeviceWalk;
    const fatal = w.problems.find((p) => p.fatal);
    if (fatal) throw cannot(`device section "${r.section.idstr}"`, fatal.offset, fatal.message);
    const raw = await src.read(r.payloadOffset, Number(r.payloadEnd - r.payloadOffset));
    if (!w.root) {
      // no vmdesc: a device of the fixed table, kept as its bytes
      payloads.set(r, raw);
      continue;
    }
    const enc = encodeVmState(w.root);
    if (Buffer.compare(enc, raw) !== 0) {
      let at = 0;
      while (at < raw.length && enc[at] === raw[at]) at++;
      throw cannot(
        `device section "${r.section.idstr}" instance ${r.section.instanceId}`,
        r.payloadOffset + BigInt(at),
        "its decoded fields encode to different bytes",
      );
    }
    payloads.set(r, enc);
  }
  for (const p of check.devices.flatMap((d) => d.problems))
    notes.push(`${hex(p.offset)} ${p.path}: ${p.message}`);
  let vmdesc: string | null = null;
  let vmdescFromValue = false;
  if (stream.vmdesc) {
    let text: string | undefined;
    try {
      text = toQemuJson(stream.vmdesc.value as unknown as QemuJsonValue);
    } catch {
      text = undefined;
    }
    if (text === stream.vmdesc.json) {
      vmdesc = text;
      vmdescFromValue = true;
    } else {
      vmdesc = stream.vmdesc.json;
      notes.push("the vmdesc does not re-serialize to its own text (duplicate keys?); its text was kept");
    }
  }
  return { stream, payloads, vmdesc, vmdescFromValue, notes };
}

/** The records after RAM START, for SavePlan.tail (mapped-ram: PART/END carry only EOS). */
function mappedRamTail(f: ParsedFile, start: SectionRecord): TailRecord[] {
  const tail: TailRecord[] = [];
  for (const r of f.stream.records) {
    if (r === start) continue;
    if (r.kind === "eof") tail.push({ kind: "eof" });
    else if (r.kind === "command") tail.push({ kind: "command", command: r.command, data: r.data });
    else if (r.ram) {
      const s = r.ram;
      if (r.type === "start" || r.type === "full" || s.pages + s.zeroPages + s.multifdFlushes.length > 0) {
        throw cannot('section "ram"', r.offset, `a ${r.type} section with records other than EOS`);
      }
      tail.push({ kind: r.type === "part" ? "ram-part" : "ram-end" });
    } else if (r.type === "full") {
      tail.push({ kind: "device", section: r.section, payload: f.payloads.get(r) as Uint8Array });
    } else {
      throw cannot(`section "${r.section.idstr}"`, r.offset, `non-RAM ${r.type} sections are not supported`);
    }
  }
  return tail;
}

/**
 * A block's page array in the source as a RAM image (zeros past the end of the file). From a file, the
 * writer's channel threads read it themselves (filePath/fileOffset), as they read a RAM image file.
 */
function pageArrayImage(src: RandomAccessSource, pagesOffset: bigint): PageReader {
  const readInto = async (offset: bigint, into: Uint8Array): Promise<number> => {
    const n = await src.readInto(pagesOffset + offset, into);
    into.fill(0, n);
    return into.length;
  };
  const filePath = src instanceof FileSource ? src.filePath : undefined;
  if (filePath === undefined) return { readInto };
  return { readInto, filePath, fileOffset: pagesOffset, size: src.size };
}

interface BlockScan {
  allSet: boolean;
  /** set-bit pages that are all zero (only `none` writes those) */
  zeroSet: number;
  /** clear-bit pages holding data (written, then found zero later) */
  stale: number[];
}

/**
 * Reads a block's page array once and classifies its pages against the bitmap. The holes of a sparse
 * file's page array (pageRangesToRead) are zero pages and are not read: reading them has the kernel
 * allocate and zero page cache for every one.
 */
async function scanBlock(src: RandomAccessSource, b: ParsedRamBlock, bm: PageBitmap): Promise<BlockScan> {
  const mr = b.mappedRam as NonNullable<ParsedRamBlock["mappedRam"]>;
  const numPages = toSafeNumber(b.numPages, "page count");
  const per = MAPPED_RAM_LOAD_BUF_SIZE / TARGET_PAGE_SIZE;
  const buf = new Uint8Array(MAPPED_RAM_LOAD_BUF_SIZE);
  const out: BlockScan = { allSet: bm.count() === numPages, zeroSet: 0, stale: [] };
  const path = src instanceof FileSource ? src.filePath : undefined;
  const ranges =
    path !== undefined
      ? await pageRangesToRead(path, numPages, TARGET_PAGE_SIZE, toSafeNumber(mr.pagesOffset, "pages_offset"))
      : Float64Array.of(0, numPages);
  /** set bits over pages [from, to), which lie in a hole: zero pages */
  const holes = (from: number, to: number) => {
    for (let p = bm.nextSet(from, to); p >= 0; p = bm.nextSet(p + 1, to)) out.zeroSet++;
  };
  let cursor = 0;
  for (let r = 0; r < ranges.length; r += 2) {
    const rangeFirst = ranges[r] as number;
    const rangeEnd = ranges[r + 1] as number;
    holes(cursor, rangeFirst);
    for (let first = rangeFirst; first < rangeEnd; first += per) {
      const n = Math.min(per, rangeEnd - first);
      const chunk = buf.subarray(0, n * TARGET_PAGE_SIZE);
      const got = await src.readInto(mr.pagesOffset + BigInt(first) * TARGET_PAGE_SIZE_N, chunk);
      chunk.fill(0, got);
      for (let i = 0; i < n; i++) {
        const zero = isZeroPage(chunk.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE));
        const set = bm.get(first + i);
        if (set && zero) out.zeroSet++;
        else if (!set && !zero) out.stale.push(first + i);
      }
    }
    cursor = rangeEnd;
  }
  holes(cursor, numPages);
  return out;
}

/** The SavePlan that makes saveMappedRam write this mapped-ram file again. */
export async function mappedRamPlan(
  src: RandomAccessSource,
  f: ParsedFile,
): Promise<{ plan: SavePlan; zpd: ZeroPageDetection; stale: number }> {
  const { stream } = f;
  const configuration = plainConfiguration(stream);
  const start = stream.records[0];
  if (!configuration || start?.kind !== "section" || start.type !== "start" || !start.ram) {
    throw cannot(
      "migration stream",
      stream.offset,
      "the first record after the configuration must be RAM START",
    );
  }
  if (start.offset !== stream.configuration?.end) {
    throw cannot("migration stream", start.offset, "RAM START must follow the configuration directly");
  }
  const ss = start.ram;
  if (ss.pages + ss.zeroPages + ss.multifdFlushes.length > 0) {
    throw cannot('section "ram"', start.offset, "the START section holds page or flush records");
  }
  // The layout the writer computes must be the file's: each block record follows the previous block's
  // region, headers hold hdr+28 and the 1 MiB-rounded page array.
  let at = start.payloadOffset + 8n;
  const blocks: SaveBlock[] = [];
  const rounds: DirtyPage[] = [];
  const modes = new Set<ZeroPageDetection>();
  let stale = 0;
  for (const b of stream.ramBlocks) {
    const mr = b.mappedRam;
    const subject = `ramblock "${b.idstr}"`;
    if (!mr) throw cannot(subject, b.recordOffset, "it has no MappedRamHeader");
    if (b.recordOffset !== at) throw cannot(subject, b.recordOffset, `its record must start at ${hex(at)}`);
    const expect = blockRegions(mr.headerOffset, b.usedLength);
    if (
      mr.header.version !== MAPPED_RAM_HDR_VERSION ||
      mr.header.pageSize !== TARGET_PAGE_SIZE_N ||
      mr.bitmapOffset !== expect.bitmapOffset ||
      mr.pagesOffset !== expect.pagesOffset
    ) {
      throw cannot(
        subject,
        mr.headerOffset,
        `its header (version ${mr.header.version}, bitmap ${hex(mr.bitmapOffset)}, pages ${hex(mr.pagesOffset)}) is not the one QEMU computes (version 1, bitmap ${hex(expect.bitmapOffset)}, pages ${hex(expect.pagesOffset)})`,
      );
    }
    at = mr.end;
    const bm = await readBlockBitmap(src, b);
    const past = bm.bitsPastEnd();
    if (past.length > 0) throw cannot(subject, mr.bitmapOffset, `bit ${past[0]} past the last page is set`);
    const scan = await scanBlock(src, b, bm);
    if (scan.zeroSet > 0 && !scan.allSet) {
      throw cannot(
        subject,
        mr.bitmapOffset,
        "set bits over zero pages next to clear bits: no zero-page-detection mode writes that",
      );
    }
    if (scan.zeroSet > 0) modes.add("none");
    else if (!scan.allSet) modes.add("multifd");
    for (const page of scan.stale) rounds.push({ block: b.idstr, page, data: ZERO_PAGE });
    stale += scan.stale.length;
    const block: SaveBlock = {
      idstr: b.idstr,
      usedLength: b.usedLength,
      image: pageArrayImage(src, mr.pagesOffset),
    };
    if (b.mrAddr !== undefined) block.mrAddr = b.mrAddr;
    blocks.push(block);
  }
  if (modes.size > 1) {
    throw cannot(
      "migration stream",
      stream.offset,
      "some blocks need zero-page-detection none and others not",
    );
  }
  if (ss.eosOffset !== at) throw cannot('section "ram"', ss.eosOffset, `the START EOS must be at ${hex(at)}`);
  const zpd: ZeroPageDetection = modes.has("none") ? "none" : "multifd";
  const plan: SavePlan = {
    offset: stream.offset,
    configuration,
    ramSection: start.section,
    blocks,
    partSections: 0,
    switchoverStart: false,
    devices: [],
    vmdesc: f.vmdesc,
    zeroPageDetection: zpd,
    multifdChannels: null,
    tail: mappedRamTail(f, start),
  };
  // A live save left old data under clear bits: reproduce it as a later round that finds those pages zero.
  if (rounds.length > 0) plan.rounds = [rounds];
  return { plan, zpd, stale };
}

/** The first offset where two sources differ (a size difference counts at the shorter size). */
export async function firstDifference(
  a: RandomAccessSource,
  b: RandomAccessSource,
): Promise<bigint | undefined> {
  const n = a.size < b.size ? a.size : b.size;
  // where both files have a hole both read as zeros: only what either holds is compared
  const regions =
    a instanceof FileSource && a.filePath && b instanceof FileSource && b.filePath
      ? dataInEither(a.fd, b.fd, toSafeNumber(n, "file size"))
      : undefined;
  const ranges = regions ?? [0, Number(n)];
  const chunk = 1024 * 1024;
  const ba = new Uint8Array(chunk);
  const bb = new Uint8Array(chunk);
  for (let r = 0; r < ranges.length; r += 2) {
    const end = BigInt(ranges[r + 1] as number);
    for (let at = BigInt(ranges[r] as number); at < end; at += BigInt(chunk)) {
      const len = Number(end - at < BigInt(chunk) ? end - at : BigInt(chunk));
      const x = ba.subarray(0, len);
      const y = bb.subarray(0, len);
      await a.readInto(at, x);
      await b.readInto(at, y);
      if (Buffer.compare(x, y) !== 0) {
        let i = 0;
        while (x[i] === y[i]) i++;
        return at + BigInt(i);
      }
    }
  }
  return a.size === b.size ? undefined : n;
}

async function copyPrefix(src: RandomAccessSource, path: string, offset: bigint): Promise<void> {
  const out = await OutputFile.create(path, 0n);
  try {
    const buf = new Uint8Array(1024 * 1024);
    for (let at = 0n; at < offset; at += BigInt(buf.length)) {
      const len = Number(offset - at < BigInt(buf.length) ? offset - at : BigInt(buf.length));
      const part = buf.subarray(0, len);
      const got = await src.readInto(at, part);
      if (got !== len) throw cannot("file prefix", at + BigInt(got), "the file is shorter than the offset");
      await out.writeAt(part, at);
    }
  } finally {
    await out.close();
  }
}

/** Parses `input` into models and writes them to `output` with the reference writers. */
export async function reencodeFile(
  input: string,
  output: string,
  opts: ReencodeOptions = {},
): Promise<ReencodeResult> {
  const src = await FileSource.open(input);
  const dir = dirname(output);
  await mkdir(dir, { recursive: true });
  const tmp = tempPathFor(output, "reencode");
  try {
    const f = await parseFile(src, opts.offset);
    // bytes before the stream (a `file:` offset's prefix, a libvirt header) are copied as they are
    const offset = f.stream.offset;
    const result: ReencodeResult = {
      mode: f.stream.mappedRam ? "mapped-ram" : "precopy",
      input,
      output,
      fileSize: 0n,
      devices: f.payloads.size,
      vmdescFromValue: f.vmdescFromValue,
      notes: f.notes,
    };
    await rm(tmp, { force: true });
    await copyPrefix(src, tmp, offset);
    if (f.stream.mappedRam) {
      const { plan, zpd, stale } = await mappedRamPlan(src, f);
      const saved = await saveMappedRam(tmp, plan);
      result.fileSize = saved.fileSize;
      result.zeroPageDetection = zpd;
      result.stalePages = stale;
    } else {
      const model: PrecopyModel = await capturePrecopy(src, f.stream, (r) => f.payloads.get(r) as Uint8Array);
      model.vmdesc = f.vmdesc;
      const written = await writePrecopy(tmp, model, src);
      result.fileSize = written.fileSize;
      result.runs = model.records.reduce((n, r) => n + (r.kind === "ram" ? r.items.length : 0), 0);
    }
    if (opts.check ?? true) {
      const out = await FileSource.open(tmp);
      try {
        const d = await firstDifference(src, out);
        result.identical = d === undefined;
        if (d !== undefined) result.firstDifference = d;
      } finally {
        await out.close();
      }
    }
    if (!opts.force) {
      const exists = await stat(output).then(
        () => true,
        () => false,
      );
      if (exists) {
        throw new MappedRamError("ERR_IO", {
          subject: `output "${output}"`,
          rule: "already exists (use --force to replace it)",
          verb: "write",
        });
      }
    }
    await rename(tmp, output);
    return result;
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await src.close();
  }
}
