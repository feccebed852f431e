// migration/savevm.c: qemu_loadvm_state_main and migration/ram.c: ram_load_precopy, parse_ramblocks,
// ram_block_from_stream — the main channel of a socket migration in packets mode, read as it arrives.
// RAM_SAVE_FLAG_MULTIFD_FLUSH is a sync point (multifd_recv_sync_main): the caller's `onFlush` returns
// once every multifd channel has delivered its SYNC packet. After the RAM END section the rest of the
// stream (device sections, EOF, vmdesc) is read to its end and walked with the vmdesc's field sizes.
import { fromLatin1, hex } from "../bytes.js";
import { type DecodedConfiguration, decodeConfiguration } from "../configuration.js";
import {
  MIG_CMD_SWITCHOVER_START,
  QEMU_VM_COMMAND,
  QEMU_VM_EOF,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
} from "../constants.js";
import { devicePayloadSize } from "../devices.js";
import { MappedRamError } from "../errors.js";
import { type ParsedRamBlock, RamLoadState } from "../ram-load.js";
import { readFooter, readSectionId, readStreamHeader } from "../reader.js";
import type { SectionId } from "../sections.js";
import { Cursor, MemorySource, type RandomAccessSource } from "../source.js";
import {
  type LocatedVmdesc,
  locateVmdesc,
  MAX_VMDESC,
  parseVmdescJson,
  type VmdescDevice,
} from "../vmdesc.js";
import { type SocketReader, StreamCursor } from "./socket-reader.js";

/** A RAM block from the START section's block list. */
export interface StreamBlock {
  idstr: string;
  usedLength: bigint;
  numPages: number;
  /** be64 mr->addr (x-ignore-shared) */
  mrAddr?: bigint;
}

export interface MainChannelHooks {
  /** START's block list, before any page of the stream is handled */
  onBlocks(blocks: readonly StreamBlock[]): Promise<void> | void;
  /** the `index`-th RAM_SAVE_FLAG_MULTIFD_FLUSH (1-based); resolve when every channel reached its SYNC */
  onFlush(index: number, offset: bigint): Promise<void>;
  /** RAM_SAVE_FLAG_ZERO (legacy zero-page detection) */
  onZeroPage(block: StreamBlock, address: bigint, offset: bigint): Promise<void> | void;
  /** RAM_SAVE_FLAG_PAGE (a page sent on the main channel) */
  onPage(block: StreamBlock, address: bigint, data: Uint8Array, offset: bigint): Promise<void> | void;
}

export interface ReceivedDevice {
  section: SectionId;
  payload: Uint8Array;
}

export interface MainChannelSummary {
  configuration?: DecodedConfiguration;
  ramSection: SectionId;
  blocks: StreamBlock[];
  /** RAM_SAVE_FLAG_MULTIFD_FLUSH records */
  flushes: number;
  /** RAM_SAVE_FLAG_ZERO records */
  zeroRecords: number;
  /** RAM_SAVE_FLAG_PAGE records */
  pageRecords: number;
  /** SECTION_PART records of the RAM section */
  partSections: number;
  switchoverStart: boolean;
  /** SECTION_FULL device records, in stream order */
  devices: ReceivedDevice[];
  vmdesc?: LocatedVmdesc;
  /** bytes in the stream */
  length: bigint;
}

const SUBJECT = "main channel";
const RAM_SUBJECT = "main channel RAM record";
/** 1 TiB: the largest MEM_SIZE we accept (the receiver keeps one bit per page). */
export const MAX_MEM_SIZE = 1n << 40n;
/** Device sections + EOF + vmdesc after RAM END are buffered; this bounds them. */
const MAX_TAIL = MAX_VMDESC + 16 * 1024 * 1024;

const PREFIX = `${SUBJECT} `;

/** The RAM section's state (shared with the file reader), reporting to the caller's hooks. */
class RamState {
  private readonly state: RamLoadState;
  private readonly streamBlocks = new Map<ParsedRamBlock, StreamBlock>();
  flushes = 0;
  zeroRecords = 0;
  pageRecords = 0;

  constructor(hooks: MainChannelHooks, ignoreShared: boolean) {
    this.state = new RamLoadState({
      mappedRam: false,
      ignoreShared,
      subjectPrefix: PREFIX,
      onBlocks: async (blocks, total, memSizeAt) => {
        // the receiver keeps one bit per page: bound MEM_SIZE before anything is allocated
        if (total === 0n || total > MAX_MEM_SIZE) {
          throw new MappedRamError(total === 0n ? "ERR_INVALID_VALUE" : "ERR_TOO_LARGE", {
            subject: RAM_SUBJECT,
            offset: memSizeAt,
            field: "MEM_SIZE",
            rule: total === 0n ? "must not be 0" : `must be at most ${hex(MAX_MEM_SIZE)}`,
            actual: hex(total),
          });
        }
        for (const b of blocks) this.streamBlocks.set(b, this.streamBlock(b));
        await hooks.onBlocks(this.blocks);
      },
      onFlush: async (index, at) => {
        this.flushes = index;
        await hooks.onFlush(index, at);
      },
      onInlinePage: async (p) => {
        const block = this.streamBlocks.get(p.block) ?? this.streamBlock(p.block);
        if (p.data) {
          this.pageRecords++;
          await hooks.onPage(block, p.address, p.data, p.offset);
        } else {
          this.zeroRecords++;
          await hooks.onZeroPage(block, p.address, p.offset);
        }
      },
    });
  }

  private streamBlock(b: ParsedRamBlock): StreamBlock {
    const out: StreamBlock = { idstr: b.idstr, usedLength: b.usedLength, numPages: Number(b.numPages) };
    if (b.mrAddr !== undefined) out.mrAddr = b.mrAddr;
    return out;
  }

  get blocks(): StreamBlock[] {
    return [...this.streamBlocks.values()];
  }

  async payload(c: Cursor): Promise<void> {
    await this.state.parsePayload(c, 'section "ram"');
  }
}

/** A RandomAccessSource over bytes that start at stream offset `base`. */
function shiftedSource(bytes: Uint8Array, base: bigint): RandomAccessSource {
  const mem = new MemorySource(bytes);
  return {
    size: base + BigInt(bytes.length),
    read: (offset, length, subject) => mem.read(offset - base, length, subject),
    readInto: (offset, into) => mem.readInto(offset - base, into),
    close: () => Promise.resolve(),
  };
}

/**
 * Reads the whole main channel: header, configuration, the RAM section with its pages and flushes (calling
 * `hooks`), device sections, EOF and the vmdesc, until the peer closes the connection.
 */
export async function parseMainChannel(
  reader: SocketReader,
  hooks: MainChannelHooks,
): Promise<MainChannelSummary> {
  const c = new StreamCursor(reader);
  await readStreamHeader(c, SUBJECT);
  let configuration: DecodedConfiguration | undefined;
  if ((await reader.peek(1))?.[0] === 0x07) configuration = await decodeConfiguration(c);
  const capabilities = configuration?.capabilities ?? [];
  if (capabilities.includes("mapped-ram") || capabilities.includes("fixed-ram")) {
    throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
      subject: `${SUBJECT} configuration`,
      offset: configuration?.offset,
      field: "capabilities",
      rule: "lists mapped-ram, which never runs over a socket (Migration requires seekable transport)",
    });
  }
  const ram = new RamState(hooks, capabilities.includes("x-ignore-shared"));
  let ramSection: SectionId | undefined;
  let partSections = 0;
  let switchoverStart = false;
  const devices: ReceivedDevice[] = [];

  // Up to and including RAM END, record by record as it arrives.
  let ramEnded = false;
  while (!ramEnded) {
    const at = c.pos;
    const type = await c.u8(SUBJECT, "record type");
    if (type === QEMU_VM_COMMAND) {
      const command = await c.u16be(`${SUBJECT} command`, "command");
      const len = await c.u16be(`${SUBJECT} command`, "length");
      await c.take(len, `${SUBJECT} command`, "data");
      if (command === MIG_CMD_SWITCHOVER_START) switchoverStart = true;
    } else if (type === QEMU_VM_SECTION_START || type === QEMU_VM_SECTION_FULL) {
      const section = await readSectionId(c, PREFIX);
      if (section.idstr === "ram") {
        if (type !== QEMU_VM_SECTION_START || ramSection !== undefined || section.versionId !== 4) {
          throw new MappedRamError(
            section.versionId !== 4 ? "ERR_UNSUPPORTED_VERSION" : "ERR_UNEXPECTED_RECORD",
            {
              subject: `${SUBJECT} section "ram"`,
              offset: at,
              field: section.versionId !== 4 ? "version_id" : "type",
              rule:
                section.versionId !== 4
                  ? "must be 4 (ram_load)"
                  : "the RAM section must start once, with START",
              actual: section.versionId !== 4 ? String(section.versionId) : hex(type),
            },
          );
        }
        ramSection = section;
        await ram.payload(c);
      } else if (type === QEMU_VM_SECTION_FULL) {
        const n = devicePayloadSize(section, undefined, at);
        devices.push({
          section,
          payload: (await c.take(n, `${SUBJECT} device "${section.idstr}"`, "payload")).slice(),
        });
      } else {
        throw new MappedRamError("ERR_UNDECODABLE", {
          subject: `${SUBJECT} section "${section.idstr}"`,
          offset: at,
          rule: "is an iterative section other than RAM, which this receiver cannot walk",
        });
      }
      await readFooter(c, section, PREFIX);
    } else if (type === QEMU_VM_SECTION_PART || type === QEMU_VM_SECTION_END) {
      const idAt = c.pos;
      const sectionId = await c.u32be(`${SUBJECT} section header`, "section_id");
      if (ramSection === undefined || sectionId !== ramSection.sectionId) {
        throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
          subject: `${SUBJECT} section header`,
          offset: idAt,
          field: "section_id",
          rule: "names no section that was started",
          actual: String(sectionId),
        });
      }
      await ram.payload(c);
      await readFooter(c, ramSection, PREFIX);
      if (type === QEMU_VM_SECTION_PART) partSections++;
      else ramEnded = true;
    } else {
      throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
        subject: SUBJECT,
        offset: at,
        field: "record type",
        rule:
          ramSection === undefined
            ? "must be the RAM START section or a command"
            : "must be a RAM section or a command before RAM END",
        actual: hex(type),
      });
    }
  }
  if (ramSection === undefined) throw new RangeError("unreachable: RAM END without START");

  // After RAM END: device sections, EOF, vmdesc — read to the end, then walked with the vmdesc's sizes.
  const base = reader.pos;
  const tail = await reader.readToEnd(MAX_TAIL, `${SUBJECT} after RAM END`);
  const located = await locateVmdesc(new MemorySource(tail));
  const t = new Cursor(shiftedSource(tail, base), base);
  let sawEof = false;
  while (!sawEof) {
    const at = t.pos;
    const type = await t.u8(SUBJECT, "record type");
    if (type === QEMU_VM_EOF) {
      sawEof = true;
    } else if (type === QEMU_VM_COMMAND) {
      const command = await t.u16be(`${SUBJECT} command`, "command");
      const len = await t.u16be(`${SUBJECT} command`, "length");
      await t.take(len, `${SUBJECT} command`, "data");
      if (command === MIG_CMD_SWITCHOVER_START) switchoverStart = true;
    } else if (type === QEMU_VM_SECTION_FULL) {
      const section = await readSectionId(t, PREFIX);
      const n = devicePayloadSize(section, located?.value, at);
      devices.push({
        section,
        payload: (await t.take(n, `${SUBJECT} device "${section.idstr}"`, "payload")).slice(),
      });
      await readFooter(t, section, PREFIX);
    } else {
      throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
        subject: SUBJECT,
        offset: at,
        field: "record type",
        rule: "must be a device section, a command or EOF after RAM END",
        actual: hex(type),
      });
    }
  }
  let vmdesc: LocatedVmdesc | undefined;
  if (t.pos < base + BigInt(tail.length)) {
    const vAt = t.pos;
    const type = await t.u8(SUBJECT, "vmdesc");
    if (type !== QEMU_VM_VMDESCRIPTION) {
      throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
        subject: SUBJECT,
        offset: vAt,
        field: "record type",
        rule: `after EOF only QEMU_VM_VMDESCRIPTION ${hex(QEMU_VM_VMDESCRIPTION)} may follow (Expected vmdescription section)`,
        actual: hex(type),
      });
    }
    const lenAt = t.pos;
    const len = await t.u32be(`${SUBJECT} vmdesc`, "length");
    if (len > MAX_VMDESC) {
      throw new MappedRamError("ERR_TOO_LARGE", {
        subject: `${SUBJECT} vmdesc`,
        offset: lenAt,
        field: "length",
        rule: `must be at most ${hex(MAX_VMDESC)}`,
        actual: hex(len),
      });
    }
    const json = fromLatin1(await t.take(len, `${SUBJECT} vmdesc`, "json"));
    vmdesc = { offset: vAt, length: len, json, value: parseVmdescJson(json, lenAt + 4n) };
    const end = base + BigInt(tail.length);
    if (t.pos !== end) {
      throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
        subject: SUBJECT,
        offset: t.pos,
        rule: `has ${end - t.pos} bytes after the vmdesc`,
      });
    }
  }
  const summary: MainChannelSummary = {
    ramSection,
    blocks: ram.blocks,
    flushes: ram.flushes,
    zeroRecords: ram.zeroRecords,
    pageRecords: ram.pageRecords,
    partSections,
    switchoverStart,
    devices,
    length: base + BigInt(tail.length),
  };
  if (configuration !== undefined) summary.configuration = configuration;
  if (vmdesc !== undefined) summary.vmdesc = vmdesc;
  return summary;
}

/** The vmdesc "devices" entry of a received section, when the stream had a vmdesc. */
export function deviceDesc(summary: MainChannelSummary, s: SectionId): VmdescDevice | undefined {
  return summary.vmdesc?.value.devices.find((d) => d.name === s.idstr && d.instance_id === s.instanceId);
}
