// A summary of a migration file for people and for `--json`: the structure the reader found.
import { stat } from "node:fs/promises";
import { hex } from "./bytes.js";
import { decodeKnownDevice } from "./devices.js";
import { readBlockBitmap } from "./extract.js";
import { type ParsedStream, parseStream, type ReadOptions } from "./reader.js";
import { FileSource } from "./source.js";

export interface InspectBlock {
  idstr: string;
  usedLength: string;
  recordOffset: string;
  mrAddr?: string;
  headerOffset?: string;
  headerVersion?: number;
  pageSize?: string;
  bitmapOffset?: string;
  bitmapSize?: string;
  pagesOffset?: string;
  end?: string;
  pages: number;
  pagesPresent?: number;
  pagesZero?: number;
}

export interface InspectRecord {
  kind: string;
  offset: string;
  idstr?: string;
  sectionId?: number;
  instanceId?: number;
  versionId?: number;
  size?: number;
  command?: number;
  fields?: Record<string, string | number | boolean>;
}

/** The documented shape of `mrc inspect --json`. Offsets and 64-bit values are hex strings. */
export interface InspectReport {
  file: string;
  fileSize: string;
  allocatedBytes: string;
  streamOffset: string;
  version: number;
  machine?: string;
  capabilities: string[];
  mappedRam: boolean;
  records: InspectRecord[];
  ramBlocks: InspectBlock[];
  vmdesc?: { offset: string; length: number };
  end: string;
}

export function summarize(stream: ParsedStream): Omit<InspectReport, "file" | "allocatedBytes"> {
  const records: InspectRecord[] = stream.records.map((r) => {
    if (r.kind === "eof") return { kind: "eof", offset: hex(r.offset) };
    if (r.kind === "command")
      return { kind: "command", offset: hex(r.offset), command: r.command, size: r.data.length };
    return {
      kind: r.type,
      offset: hex(r.offset),
      idstr: r.section.idstr,
      sectionId: r.section.sectionId,
      instanceId: r.section.instanceId,
      versionId: r.section.versionId,
      size: Number(r.payloadEnd - r.payloadOffset),
    };
  });
  return {
    fileSize: hex(stream.fileSize),
    streamOffset: hex(stream.offset),
    version: stream.version,
    ...(stream.configuration ? { machine: stream.configuration.machineName } : {}),
    capabilities: stream.configuration?.capabilities ?? [],
    mappedRam: stream.mappedRam,
    records,
    ramBlocks: stream.ramBlocks.map((b) => {
      const out: InspectBlock = {
        idstr: b.idstr,
        usedLength: hex(b.usedLength),
        recordOffset: hex(b.recordOffset),
        pages: Number(b.numPages),
      };
      if (b.mrAddr !== undefined) out.mrAddr = hex(b.mrAddr);
      const mr = b.mappedRam;
      if (mr) {
        out.headerOffset = hex(mr.headerOffset);
        out.headerVersion = mr.header.version;
        out.pageSize = hex(mr.header.pageSize);
        out.bitmapOffset = hex(mr.bitmapOffset);
        out.bitmapSize = hex(mr.bitmapSize);
        out.pagesOffset = hex(mr.pagesOffset);
        out.end = hex(mr.end);
      }
      return out;
    }),
    ...(stream.vmdesc ? { vmdesc: { offset: hex(stream.vmdesc.offset), length: stream.vmdesc.length } } : {}),
    end: hex(stream.end),
  };
}

/** Parses `path` and reports its structure, with bitmap counts and device fields where known. */
export async function inspectFile(path: string, opts: ReadOptions = {}): Promise<InspectReport> {
  const st = await stat(path, { bigint: true });
  const src = await FileSource.open(path);
  try {
    const stream = await parseStream(src, opts);
    const report: InspectReport = { file: path, allocatedBytes: hex(st.blocks * 512n), ...summarize(stream) };
    for (let i = 0; i < stream.ramBlocks.length; i++) {
      const b = stream.ramBlocks[i];
      const out = report.ramBlocks[i];
      if (!b?.mappedRam || !out) continue;
      const bm = await readBlockBitmap(src, b);
      out.pagesPresent = bm.count();
      out.pagesZero = bm.numPages - out.pagesPresent;
    }
    for (let i = 0; i < stream.records.length; i++) {
      const r = stream.records[i];
      if (r?.kind !== "section" || r.type !== "full") continue;
      const payload = await src.read(r.payloadOffset, Number(r.payloadEnd - r.payloadOffset));
      const fields = decodeKnownDevice(r.section, payload);
      const rec = report.records[i];
      if (fields && rec) rec.fields = fields;
    }
    return report;
  } finally {
    await src.close();
  }
}
