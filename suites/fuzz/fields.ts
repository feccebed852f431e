// Where each field of a valid seed file lies, for structure-aware mutation: the libvirt header, the file
// header, the configuration and its subsections, every record (section headers, RAM records, the
// MappedRamHeader fields, bitmaps, page arrays, device payloads, footers, commands, EOF) and the vmdesc.
// The layout is the spec's (sections 1-3); the reader only tells where the records of this seed start.
import { u32beAt } from "../../src/impl/bytes.js";
import { parseStream } from "../../src/impl/reader.js";
import { MemorySource } from "../../src/impl/source.js";

/** How a field is encoded: integers (big endian unless `le`), counted lengths, or opaque bytes. */
export type FieldKind =
  | "u8"
  | "u16"
  | "u32"
  | "u32le"
  | "u64"
  /** a u8 length followed by that many bytes (idstr, names) */
  | "count8"
  | "bytes"
  | "bitmap"
  | "pages"
  | "json"
  | "payload";

export interface Field {
  /** e.g. `ramblock[1] "pc.bios".MappedRamHeader.pages_offset` */
  name: string;
  at: number;
  size: number;
  kind: FieldKind;
  /** what the field is, for targeted mutations */
  role?:
    | "memSize"
    | "usedLength"
    | "mrhVersion"
    | "pageSize"
    | "bitmapOffset"
    | "pagesOffset"
    | "vmdescLength"
    | "recordType"
    | "sectionId"
    | "idstrLength"
    | "capsCount"
    | "machineLength"
    | "commandLength"
    | "libvirtDataLen"
    | "footerId";
  /** the RAM block the field belongs to (index in stream order) */
  block?: number;
}

export interface BlockInfo {
  idstr: string;
  recordAt: number;
  usedLength: bigint;
  headerAt?: number;
  bitmapOffset?: bigint;
  bitmapSize?: bigint;
  pagesOffset?: bigint;
}

export interface SeedMap {
  size: number;
  /** where the stream starts */
  offset: bigint;
  fields: Field[];
  blocks: BlockInfo[];
  /** the vmdesc: offset of the 0x06 byte and the JSON length */
  vmdesc?: { at: number; length: number };
  /** the first byte after the last structure before the first page array (where truncation is most telling) */
  structuralEnd: number;
}

const num = (v: bigint) => Number(v);

/** Maps a valid seed. `offset`: where the stream starts (default: what the reader finds). */
export async function mapSeed(bytes: Uint8Array, offset?: bigint): Promise<SeedMap> {
  const s = await parseStream(new MemorySource(bytes), offset === undefined ? {} : { offset });
  const fields: Field[] = [];
  const add = (f: Field) => {
    if (f.at >= 0 && f.size > 0 && f.at + f.size <= bytes.length) fields.push(f);
  };
  if (s.libvirt) {
    add({ name: "libvirt.magic", at: 0, size: 16, kind: "bytes" });
    add({ name: "libvirt.version", at: 0x10, size: 4, kind: "u32le" });
    add({ name: "libvirt.data_len", at: 0x14, size: 4, kind: "u32le", role: "libvirtDataLen" });
    add({ name: "libvirt.was_running", at: 0x18, size: 4, kind: "u32le" });
    add({ name: "libvirt.format", at: 0x1c, size: 4, kind: "u32le" });
    add({ name: "libvirt.cookieOffset", at: 0x20, size: 4, kind: "u32le" });
    add({ name: "libvirt.unused", at: 0x24, size: 56, kind: "bytes" });
    add({ name: "libvirt.data", at: 0x5c, size: num(s.offset) - 0x5c, kind: "payload" });
  }
  const o = num(s.offset);
  add({ name: "header.magic", at: o, size: 4, kind: "u32" });
  add({ name: "header.version", at: o + 4, size: 4, kind: "u32" });
  const cfg = s.configuration;
  if (cfg) {
    // spec 1.2: 07, be32 len, name, then subsections 05 u8-len name be32 version payload
    let p = num(cfg.offset);
    add({ name: "configuration.type", at: p, size: 1, kind: "u8", role: "recordType" });
    const len = u32beAt(bytes, p + 1);
    add({ name: "configuration.len", at: p + 1, size: 4, kind: "u32", role: "machineLength" });
    add({ name: "configuration.name", at: p + 5, size: len, kind: "bytes" });
    p += 5 + len;
    while (p < num(cfg.end) && bytes[p] === 0x05) {
      const nameLen = bytes[p + 1] as number;
      const name = String.fromCharCode(...bytes.subarray(p + 2, p + 2 + nameLen));
      add({ name: `subsection "${name}".type`, at: p, size: 1, kind: "u8" });
      add({ name: `subsection "${name}".name`, at: p + 1, size: 1 + nameLen, kind: "count8" });
      const v = p + 2 + nameLen;
      add({ name: `subsection "${name}".version_id`, at: v, size: 4, kind: "u32" });
      p = v + 4;
      if (name === "configuration/capabilities") {
        const count = u32beAt(bytes, p);
        add({ name: "capabilities.caps_count", at: p, size: 4, kind: "u32", role: "capsCount" });
        p += 4;
        for (let i = 0; i < count; i++) {
          const n = bytes[p] as number;
          add({ name: `capabilities[${i}]`, at: p, size: 1 + n, kind: "count8", role: "idstrLength" });
          p += 1 + n;
        }
      } else if (name === "configuration/uuid") {
        add({ name: "uuid", at: p, size: 16, kind: "bytes" });
        p += 16;
      } else if (name === "configuration/target-page-bits") {
        add({ name: "target_page_bits", at: p, size: 4, kind: "u32" });
        p += 4;
      } else break;
    }
  }
  const blocks: BlockInfo[] = s.ramBlocks.map((b) => ({
    idstr: b.idstr,
    recordAt: num(b.recordOffset),
    usedLength: b.usedLength,
    ...(b.mappedRam
      ? {
          headerAt: num(b.mappedRam.headerOffset),
          bitmapOffset: b.mappedRam.bitmapOffset,
          bitmapSize: b.mappedRam.bitmapSize,
          pagesOffset: b.mappedRam.pagesOffset,
        }
      : {}),
  }));
  for (const r of s.records) {
    const at = num(r.offset);
    if (r.kind === "eof") {
      add({ name: "EOF", at, size: 1, kind: "u8", role: "recordType" });
      continue;
    }
    if (r.kind === "command") {
      add({ name: "command.type", at, size: 1, kind: "u8", role: "recordType" });
      add({ name: "command.cmd", at: at + 1, size: 2, kind: "u16" });
      add({ name: "command.len", at: at + 3, size: 2, kind: "u16", role: "commandLength" });
      add({ name: "command.data", at: at + 5, size: r.data.length, kind: "bytes" });
      continue;
    }
    const sub = `${r.type} "${r.section.idstr}"`;
    add({ name: `${sub}.type`, at, size: 1, kind: "u8", role: "recordType" });
    add({ name: `${sub}.section_id`, at: at + 1, size: 4, kind: "u32", role: "sectionId" });
    if (r.type === "start" || r.type === "full") {
      const n = r.section.idstr.length;
      add({ name: `${sub}.idstr`, at: at + 5, size: 1 + n, kind: "count8", role: "idstrLength" });
      add({ name: `${sub}.instance_id`, at: at + 6 + n, size: 4, kind: "u32" });
      add({ name: `${sub}.version_id`, at: at + 10 + n, size: 4, kind: "u32" });
    }
    const payloadAt = num(r.payloadOffset);
    if (r.ram) {
      if (r.ram.memSize !== undefined) {
        add({ name: `${sub}.MEM_SIZE`, at: payloadAt, size: 8, kind: "u64", role: "memSize" });
      }
      for (const f of r.ram.multifdFlushes)
        add({ name: `${sub}.MULTIFD_FLUSH`, at: num(f), size: 8, kind: "u64" });
      add({ name: `${sub}.EOS`, at: num(r.ram.eosOffset), size: 8, kind: "u64" });
      // ordinary streams: the page records between the payload start and EOS
      if (r.ram.pages + r.ram.zeroPages > 0 && r.type !== "start") {
        add({
          name: `${sub}.records`,
          at: payloadAt,
          size: num(r.ram.eosOffset) - payloadAt,
          kind: "payload",
        });
      }
    } else if (r.payloadEnd > r.payloadOffset) {
      add({
        name: `${sub}.payload`,
        at: payloadAt,
        size: num(r.payloadEnd - r.payloadOffset),
        kind: "payload",
      });
    }
    if (r.footerOffset !== undefined) {
      const f = num(r.footerOffset);
      add({ name: `${sub}.footer`, at: f, size: 1, kind: "u8", role: "recordType" });
      add({ name: `${sub}.footer.section_id`, at: f + 1, size: 4, kind: "u32", role: "footerId" });
    }
  }
  let structuralEnd = bytes.length;
  for (const [i, b] of blocks.entries()) {
    const pre = `ramblock[${i}] "${b.idstr.length > 24 ? `${b.idstr.slice(0, 24)}…` : b.idstr}"`;
    add({
      name: `${pre}.idstr`,
      at: b.recordAt,
      size: 1 + b.idstr.length,
      kind: "count8",
      role: "idstrLength",
      block: i,
    });
    const lenAt = b.recordAt + 1 + b.idstr.length;
    add({ name: `${pre}.used_length`, at: lenAt, size: 8, kind: "u64", role: "usedLength", block: i });
    if (b.headerAt === undefined) continue;
    if (b.headerAt > lenAt + 8)
      add({ name: `${pre}.mr_addr`, at: lenAt + 8, size: 8, kind: "u64", block: i });
    const h = b.headerAt;
    add({
      name: `${pre}.MappedRamHeader.version`,
      at: h,
      size: 4,
      kind: "u32",
      role: "mrhVersion",
      block: i,
    });
    add({
      name: `${pre}.MappedRamHeader.page_size`,
      at: h + 4,
      size: 8,
      kind: "u64",
      role: "pageSize",
      block: i,
    });
    add({
      name: `${pre}.MappedRamHeader.bitmap_offset`,
      at: h + 12,
      size: 8,
      kind: "u64",
      role: "bitmapOffset",
      block: i,
    });
    add({
      name: `${pre}.MappedRamHeader.pages_offset`,
      at: h + 20,
      size: 8,
      kind: "u64",
      role: "pagesOffset",
      block: i,
    });
    if (b.bitmapOffset !== undefined && b.bitmapSize !== undefined) {
      add({
        name: `${pre}.bitmap`,
        at: num(b.bitmapOffset),
        size: num(b.bitmapSize),
        kind: "bitmap",
        block: i,
      });
    }
    if (b.pagesOffset !== undefined) {
      const start = num(b.pagesOffset);
      const size = Math.min(num(b.usedLength), bytes.length - start);
      add({ name: `${pre}.pages`, at: start, size, kind: "pages", block: i });
      if (i === 0) structuralEnd = start;
    }
  }
  let vmdesc: SeedMap["vmdesc"];
  if (s.vmdesc) {
    const v = num(s.vmdesc.offset);
    vmdesc = { at: v, length: s.vmdesc.length };
    add({ name: "vmdesc.type", at: v, size: 1, kind: "u8", role: "recordType" });
    add({ name: "vmdesc.length", at: v + 1, size: 4, kind: "u32", role: "vmdescLength" });
    add({ name: "vmdesc.json", at: v + 5, size: s.vmdesc.length, kind: "json" });
  }
  fields.sort((a, b) => a.at - b.at);
  return {
    size: bytes.length,
    offset: s.offset,
    fields,
    blocks,
    ...(vmdesc ? { vmdesc } : {}),
    structuralEnd,
  };
}
