// migration/savevm.c: qemu_loadvm_state / qemu_loadvm_state_main — walks every top-level record of a
// migration stream: header, configuration, sections with footers, commands, EOF and the vmdesc.
import { fromLatin1, hex } from "./bytes.js";
import { type DecodedConfiguration, decodeConfiguration, isMappedRam } from "./configuration.js";
import {
  QEMU_VM_COMMAND,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_EOF,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
} from "./constants.js";
import { devicePayloadLength } from "./devices.js";
import { MappedRamError } from "./errors.js";
import { type LibvirtSaveHeader, streamStartOf } from "./libvirt.js";
import { type InlinePage, type ParsedRamBlock, RamLoadState, type RamPayloadSummary } from "./ram-load.js";
import type { SectionId } from "./sections.js";
import { Cursor, FileSource, type RandomAccessSource } from "./source.js";
import { type LocatedVmdesc, locateVmdesc, MAX_VMDESC, parseVmdescJson } from "./vmdesc.js";

export type SectionKind = "start" | "part" | "end" | "full";

export interface SectionRecord {
  kind: "section";
  type: SectionKind;
  /** offset of the type byte */
  offset: bigint;
  section: SectionId;
  payloadOffset: bigint;
  payloadEnd: bigint;
  /** offset of the footer, when present */
  footerOffset?: bigint;
  /** RAM sections: what the payload held */
  ram?: RamPayloadSummary;
}

export interface CommandRecord {
  kind: "command";
  offset: bigint;
  command: number;
  data: Uint8Array;
}

export interface EofRecord {
  kind: "eof";
  offset: bigint;
}

export type StreamRecord = SectionRecord | CommandRecord | EofRecord;

export interface ParsedStream {
  /** where the stream starts (the `file:` offset, or 0x5c + data_len in a libvirt image) */
  offset: bigint;
  /** the libvirt save-image header in front of the stream, when there is one */
  libvirt?: LibvirtSaveHeader;
  fileSize: bigint;
  version: number;
  configuration?: DecodedConfiguration;
  mappedRam: boolean;
  records: StreamRecord[];
  ramBlocks: ParsedRamBlock[];
  vmdesc?: LocatedVmdesc;
  /** the vmdesc after EOF is there but broken (QEMU's loader ignores it, so this is not thrown) */
  vmdescProblem?: MappedRamError;
  /** where the last structure ends (end of the vmdesc, or just after EOF) */
  end: bigint;
}

export interface ReadOptions {
  /** where the stream starts; absent: after a libvirt save-image header if there is one, else 0 */
  offset?: bigint;
  /** sections carry footers (property send-section-footer, default on) */
  sectionFooters?: boolean;
  /** visitor for inline page records of ordinary (non-mapped-ram) streams */
  onInlinePage?: (p: InlinePage) => Promise<void> | void;
  /** stop after the RAM section's END (what a RAM extractor needs) */
  stopAfterRam?: boolean;
}

/** Longest idstr of a section (u8 counted). */
const SUBJECT_STREAM = "migration stream";

interface LiveSection {
  section: SectionId;
  ram?: RamLoadState;
}

export async function parseStream(src: RandomAccessSource, opts: ReadOptions = {}): Promise<ParsedStream> {
  const start = await streamStartOf(src, opts.offset);
  const offset = start.offset;
  const footers = opts.sectionFooters ?? true;
  const c = new Cursor(src, offset);
  const version = await readStreamHeader(c, SUBJECT_STREAM);
  const out: ParsedStream = {
    offset,
    fileSize: src.size,
    version,
    mappedRam: false,
    records: [],
    ramBlocks: [],
    end: 0n,
    ...(start.libvirt ? { libvirt: start.libvirt } : {}),
  };
  if ((await c.peekU8(SUBJECT_STREAM)) === QEMU_VM_CONFIGURATION) {
    out.configuration = await decodeConfiguration(c);
    out.mappedRam = isMappedRam(out.configuration);
  }
  const ignoreShared = out.configuration?.capabilities.includes("x-ignore-shared") ?? false;
  const live = new Map<number, LiveSection>();
  let vmdesc: LocatedVmdesc | undefined | null = null; // null: not looked up yet
  let ramDone = false;

  for (;;) {
    const at = c.pos;
    const type = await c.u8(SUBJECT_STREAM, "record type");
    if (type === QEMU_VM_EOF) {
      out.records.push({ kind: "eof", offset: at });
      break;
    }
    if (type === QEMU_VM_COMMAND) {
      const command = await c.u16be("command record", "command");
      const len = await c.u16be("command record", "length");
      const data = (await c.take(len, "command record", "data")).slice();
      out.records.push({ kind: "command", offset: at, command, data });
      continue;
    }
    if (type === QEMU_VM_SECTION_START || type === QEMU_VM_SECTION_FULL) {
      const section = await readSectionId(c);
      const { sectionId, idstr, versionId } = section;
      const rec: SectionRecord = {
        kind: "section",
        type: type === QEMU_VM_SECTION_START ? "start" : "full",
        offset: at,
        section,
        payloadOffset: c.pos,
        payloadEnd: 0n,
      };
      if (idstr === "ram") {
        if (versionId !== 4) {
          throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
            subject: 'section "ram"',
            offset: at,
            field: "version_id",
            rule: "must be 4 (ram_load)",
            actual: String(versionId),
          });
        }
        if (section.instanceId !== 0) {
          // ram_mig_init registers "ram" with instance 0: find_se fails for any other
          throw new MappedRamError("ERR_INVALID_VALUE", {
            subject: 'section "ram"',
            offset: at,
            field: "instance_id",
            rule: `must be 0 (Unknown savevm section or instance 'ram' ${section.instanceId})`,
            expected: "0",
            actual: String(section.instanceId),
          });
        }
        if (live.has(sectionId) || out.ramBlocks.length > 0) {
          throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
            subject: 'section "ram"',
            offset: at,
            rule: "the RAM section may start only once",
          });
        }
        const ram = new RamLoadState({
          mappedRam: out.mappedRam,
          ignoreShared,
          ...(opts.onInlinePage ? { onInlinePage: opts.onInlinePage } : {}),
        });
        rec.ram = await ram.parsePayload(c, 'section "ram"');
        out.ramBlocks = ram.blocks;
        if (type === QEMU_VM_SECTION_START) live.set(sectionId, { section, ram });
        else ramDone = true;
      } else {
        if (vmdesc === null) vmdesc = await locateVmdesc(src);
        const n = await devicePayloadLength(src, c.pos, section, vmdesc?.value);
        await c.take(n, `device section "${idstr}"`, "payload");
        if (type === QEMU_VM_SECTION_START) live.set(sectionId, { section });
      }
      rec.payloadEnd = c.pos;
      if (footers) rec.footerOffset = await readFooter(c, section);
      out.records.push(rec);
      if (ramDone && opts.stopAfterRam) break;
      continue;
    }
    if (type === QEMU_VM_SECTION_PART || type === QEMU_VM_SECTION_END) {
      const idAt = c.pos;
      const sectionId = await c.u32be("section header", "section_id");
      const ls = live.get(sectionId);
      if (!ls) {
        throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
          subject: "section header",
          offset: idAt,
          field: "section_id",
          rule: "names no section that was started",
          actual: String(sectionId),
        });
      }
      const rec: SectionRecord = {
        kind: "section",
        type: type === QEMU_VM_SECTION_PART ? "part" : "end",
        offset: at,
        section: ls.section,
        payloadOffset: c.pos,
        payloadEnd: 0n,
      };
      if (ls.ram) {
        rec.ram = await ls.ram.parsePayload(c, 'section "ram"');
      } else {
        throw new MappedRamError("ERR_UNDECODABLE", {
          subject: `section "${ls.section.idstr}"`,
          offset: at,
          rule: "is an iterative section this reader cannot walk",
        });
      }
      rec.payloadEnd = c.pos;
      if (footers) rec.footerOffset = await readFooter(c, ls.section);
      out.records.push(rec);
      if (type === QEMU_VM_SECTION_END) {
        live.delete(sectionId);
        if (ls.ram) ramDone = true;
        if (ramDone && opts.stopAfterRam) break;
      }
      continue;
    }
    throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
      subject: SUBJECT_STREAM,
      offset: at,
      field: "record type",
      rule: "must be a section, command or EOF record",
      actual: hex(type),
    });
  }

  out.end = c.pos;
  if (opts.stopAfterRam && out.records.at(-1)?.kind !== "eof") return out;
  // After EOF: QEMU reads one byte; 06 means a vmdesc follows. QEMU's loader has finished by then and
  // ignores a broken vmdesc, so do we: the problem is kept in vmdescProblem, not thrown.
  if (c.remaining > 0n && (await c.peekU8(SUBJECT_STREAM)) === QEMU_VM_VMDESCRIPTION) {
    const vAt = c.pos;
    try {
      await c.u8("vmdesc");
      const lenAt = c.pos;
      const len = await c.u32be("vmdesc", "length");
      if (len > MAX_VMDESC) {
        throw new MappedRamError("ERR_TOO_LARGE", {
          subject: "vmdesc",
          offset: lenAt,
          field: "length",
          rule: `must be at most ${hex(MAX_VMDESC)}`,
          actual: hex(len),
        });
      }
      const json = fromLatin1(await c.take(len, "vmdesc", "json"));
      out.vmdesc = { offset: vAt, length: len, json, value: parseVmdescJson(json, lenAt + 4n) };
      out.end = c.pos;
    } catch (e) {
      if (!(e instanceof MappedRamError)) throw e;
      out.vmdescProblem = e;
    }
  }
  return out;
}

/** savevm.c: check_section_footer. Returns the footer's offset. */
export async function readFooter(c: Cursor, s: SectionId, subjectPrefix = ""): Promise<bigint> {
  const at = c.pos;
  const subject = `${subjectPrefix}section "${s.idstr}"`;
  const type = await c.u8(subject, "footer");
  if (type !== QEMU_VM_SECTION_FOOTER) {
    throw new MappedRamError("ERR_BAD_FOOTER", {
      subject,
      offset: at,
      field: "footer",
      rule: `Missing section footer for ${s.idstr}`,
      expected: hex(QEMU_VM_SECTION_FOOTER),
      actual: hex(type),
    });
  }
  const id = await c.u32be(subject, "footer section_id");
  if (id !== s.sectionId) {
    throw new MappedRamError("ERR_BAD_FOOTER", {
      subject,
      offset: at + 1n,
      field: "footer section_id",
      rule: `Mismatched section id in footer for ${s.idstr} - read ${hex(id)} expected ${hex(s.sectionId)}`,
      expected: String(s.sectionId),
      actual: String(id),
    });
  }
  return at;
}

/** qemu_loadvm_state_header: magic "QEVM" and version 3 (2 is refused as obsolete). Returns the version. */
export async function readStreamHeader(c: Cursor, subject: string): Promise<number> {
  const at = c.pos;
  const magic = await c.u32be(subject, "magic");
  if (magic !== QEMU_VM_FILE_MAGIC) {
    throw new MappedRamError("ERR_BAD_MAGIC", {
      subject,
      offset: at,
      field: "magic",
      rule: `must be QEMU_VM_FILE_MAGIC ${hex(QEMU_VM_FILE_MAGIC)} ("QEVM")`,
      expected: hex(QEMU_VM_FILE_MAGIC),
      actual: hex(magic),
    });
  }
  const version = await c.u32be(subject, "version");
  if (version !== QEMU_VM_FILE_VERSION) {
    throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
      subject,
      offset: at + 4n,
      field: "version",
      rule:
        version === QEMU_VM_FILE_VERSION_COMPAT
          ? "SaveVM v2 format is obsolete and don't work anymore"
          : `must be QEMU_VM_FILE_VERSION ${QEMU_VM_FILE_VERSION}`,
      expected: String(QEMU_VM_FILE_VERSION),
      actual: String(version),
    });
  }
  return version;
}

/** The header of a START/FULL section after its type byte: id, idstr, instance id, version id. */
export async function readSectionId(c: Cursor, subjectPrefix = ""): Promise<SectionId> {
  const sectionId = await c.u32be(`${subjectPrefix}section header`, "section_id");
  const idstr = fromLatin1(await c.countedBytes(`${subjectPrefix}section header`, "idstr"));
  const instanceId = await c.u32be(`${subjectPrefix}section "${idstr}"`, "instance_id");
  const versionId = await c.u32be(`${subjectPrefix}section "${idstr}"`, "version_id");
  return { sectionId, idstr, instanceId, versionId };
}

/** Convenience: open a file, parse it, close it. */
export async function readMigrationFile(path: string, opts: ReadOptions = {}): Promise<ParsedStream> {
  const src = await FileSource.open(path);
  try {
    return await parseStream(src, opts);
  } finally {
    await src.close();
  }
}
