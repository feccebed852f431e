// A summary of a migration file for people and for `--json`: the structure the reader found.
import { stat } from "node:fs/promises";
import { allocatedBytesIn } from "./allocation.js";
import { hex } from "./bytes.js";
import { checkDeviceSections, type DeviceWalk, decodeKnownDevice } from "./devices.js";
import { MappedRamError } from "./errors.js";
import { readBlockBitmap } from "./extract.js";
import { type ParsedStream, parseStream, type ReadOptions } from "./reader.js";
import { FileSource } from "./source.js";
import { type VmJson, vmStructToJson } from "./vmstate/json.js";

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
  /** bytes of the page array [pages_offset, pages_offset + used_length) that hold data, not holes */
  pagesAllocated?: string;
  /** true for a block ignored under x-ignore-shared (QEMU 11.0 format): its RAM is not in the file */
  ignored?: boolean;
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
/** The libvirt save-image header in front of the stream (offsets and sizes as hex strings). */
export interface InspectLibvirt {
  magic: string;
  complete: boolean;
  byteSwapped: boolean;
  version: number;
  dataLen: string;
  wasRunning: number;
  format: number;
  formatName: string;
  cookieOffset: string;
  domainName?: string;
  memory?: { value: number; unit: string };
  xml?: string;
  cookie?: string;
}

export interface InspectReport {
  file: string;
  fileSize: string;
  allocatedBytes: string;
  /** present when the file is a libvirt save image */
  libvirt?: InspectLibvirt;
  streamOffset: string;
  version: number;
  machine?: string;
  capabilities: string[];
  mappedRam: boolean;
  records: InspectRecord[];
  ramBlocks: InspectBlock[];
  vmdesc?: { offset: string; length: number };
  /** a vmdesc after EOF that QEMU's loader would ignore as broken */
  vmdescProblem?: { code: string; offset?: string; message: string };
  end: string;
  /** every device section walked with the file's vmdesc, and where the walk and the vmdesc disagree */
  deviceCheck?: { sections: number; decoded: number; findings: Array<{ offset: string; message: string }> };
}

/** One device section's decoded fields, for `mrc inspect --device NAME`. */
export interface DeviceDump {
  idstr: string;
  instanceId: number;
  versionId: number;
  sectionId: number;
  /** offset of the payload */
  offset: string;
  size: number;
  /** the vmsd that describes it (absent for a fixed-table device without a vmdesc) */
  vmsdName?: string;
  /** fields by name, subsections by their vmsd name (analyze-migration.py's shape) */
  fields: VmJson;
  problems: Array<{ offset: string; path: string; message: string; fatal: boolean }>;
}

function libvirtSummary(h: NonNullable<ParsedStream["libvirt"]>): InspectLibvirt {
  return {
    magic: h.magic,
    complete: h.complete,
    byteSwapped: h.byteSwapped,
    version: h.version,
    dataLen: hex(h.dataLen),
    wasRunning: h.wasRunning,
    format: h.format,
    formatName: h.formatName,
    cookieOffset: hex(h.cookieOffset),
    ...(h.domainName !== undefined ? { domainName: h.domainName } : {}),
    ...(h.memory !== undefined ? { memory: h.memory } : {}),
    ...(h.xml !== undefined ? { xml: h.xml } : {}),
    ...(h.cookie !== undefined ? { cookie: h.cookie } : {}),
  };
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
    ...(stream.libvirt ? { libvirt: libvirtSummary(stream.libvirt) } : {}),
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
    ...(stream.vmdescProblem
      ? {
          vmdescProblem: {
            code: stream.vmdescProblem.code,
            ...(stream.vmdescProblem.offset !== undefined
              ? { offset: hex(stream.vmdescProblem.offset) }
              : {}),
            message: stream.vmdescProblem.message,
          },
        }
      : {}),
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
    // bytes holding data of each page array, asked of the kernel once for all blocks
    const arrays = stream.ramBlocks.flatMap((block) =>
      block.mappedRam && !block.mappedRam.ignored
        ? [{ block, range: [block.mappedRam.pagesOffset, block.mappedRam.end] as const }]
        : [],
    );
    const allocated = await allocatedBytesIn(
      path,
      arrays.map((a) => a.range),
    );
    const allocatedOf = new Map(arrays.map((a, k) => [a.block, allocated?.[k]]));
    for (let i = 0; i < stream.ramBlocks.length; i++) {
      const b = stream.ramBlocks[i];
      const out = report.ramBlocks[i];
      if (!b?.mappedRam || !out) continue;
      if (b.mappedRam.ignored) {
        out.ignored = true;
        continue;
      }
      const bm = await readBlockBitmap(src, b);
      out.pagesPresent = bm.count();
      out.pagesZero = bm.numPages - out.pagesPresent;
      const bytes = allocatedOf.get(b);
      if (bytes !== undefined) out.pagesAllocated = hex(bytes);
    }
    for (let i = 0; i < stream.records.length; i++) {
      const r = stream.records[i];
      if (r?.kind !== "section" || r.type !== "full") continue;
      const payload = await src.read(r.payloadOffset, Number(r.payloadEnd - r.payloadOffset));
      const fields = decodeKnownDevice(r.section, payload);
      const rec = report.records[i];
      if (fields && rec) rec.fields = fields;
    }
    const check = await checkDeviceSections(src, stream);
    report.deviceCheck = {
      sections: check.devices.length,
      decoded: check.devices.filter((d) => d.root !== undefined && !d.problems.some((p) => p.fatal)).length,
      findings: check.findings.map((f) => ({ offset: hex(f.offset), message: f.message })),
    };
    return report;
  } finally {
    await src.close();
  }
}

/** True when `name` picks this device: its idstr, the part after the PCI address, or its vmsd name. */
function matches(w: DeviceWalk, name: string): boolean {
  const id = w.section.idstr;
  return id === name || id.endsWith(`/${name}`) || w.desc?.vmsd_name === name;
}

function dump(w: DeviceWalk, payload: Uint8Array): DeviceDump {
  const fields: VmJson = w.root ? vmStructToJson(w.root) : (decodeKnownDevice(w.section, payload) ?? {});
  return {
    idstr: w.section.idstr,
    instanceId: w.section.instanceId,
    versionId: w.section.versionId,
    sectionId: w.section.sectionId,
    offset: hex(w.offset),
    size: payload.length,
    ...(w.desc ? { vmsdName: w.desc.vmsd_name } : {}),
    fields,
    problems: w.problems.map((p) => ({
      offset: hex(p.offset),
      path: p.path,
      message: p.message,
      fatal: p.fatal,
    })),
  };
}

/** The decoded fields of every device section named `name` (see `matches`), in stream order. */
export async function inspectDevices(
  path: string,
  name: string,
  opts: ReadOptions = {},
): Promise<DeviceDump[]> {
  const src = await FileSource.open(path);
  try {
    const stream = await parseStream(src, opts);
    const check = await checkDeviceSections(src, stream);
    const out: DeviceDump[] = [];
    for (const w of check.devices) {
      if (!matches(w, name)) continue;
      out.push(dump(w, await src.read(w.offset, w.length ?? 0)));
    }
    if (out.length === 0) {
      const names = [...new Set(check.devices.map((d) => d.section.idstr))].join(", ");
      throw new MappedRamError("ERR_BAD_ARGUMENT", {
        subject: "--device",
        rule: `names no device section of the file (${names || "none"})`,
        actual: JSON.stringify(name),
      });
    }
    return out;
  } finally {
    await src.close();
  }
}
