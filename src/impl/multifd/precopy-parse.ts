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
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_HOOK,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_XBZRLE,
  RAM_SAVE_FLAG_ZERO,
  TARGET_PAGE_MASK_N,
  TARGET_PAGE_SIZE,
  TARGET_PAGE_SIZE_N,
} from "../constants.js";
import { devicePayloadSize } from "../devices.js";
import { MappedRamError } from "../errors.js";
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

async function readFooter(c: Cursor, s: SectionId): Promise<void> {
  const at = c.pos;
  const subject = `${SUBJECT} section "${s.idstr}"`;
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
}

async function readSectionHeader(c: Cursor): Promise<SectionId> {
  const sectionId = await c.u32be(`${SUBJECT} section header`, "section_id");
  const idstr = fromLatin1(await c.countedBytes(`${SUBJECT} section header`, "idstr"));
  const instanceId = await c.u32be(`${SUBJECT} section "${idstr}"`, "instance_id");
  const versionId = await c.u32be(`${SUBJECT} section "${idstr}"`, "version_id");
  return { sectionId, idstr, instanceId, versionId };
}

/** State of the RAM section across its START, PART and END payloads. */
class RamState {
  blocks: StreamBlock[] = [];
  /** mis->last_recv_block: RAM_SAVE_FLAG_CONTINUE refers to it, across sections */
  last: StreamBlock | undefined;
  flushes = 0;
  zeroRecords = 0;
  pageRecords = 0;

  constructor(
    readonly hooks: MainChannelHooks,
    readonly ignoreShared: boolean,
  ) {}

  async payload(c: Cursor, start: boolean): Promise<void> {
    for (;;) {
      const at = c.pos;
      const word = await c.u64be(RAM_SUBJECT, "flags");
      const flags = word & TARGET_PAGE_MASK_N;
      const addr = word & ~TARGET_PAGE_MASK_N;
      const kind = flags & ~RAM_SAVE_FLAG_CONTINUE;
      if (kind === RAM_SAVE_FLAG_MEM_SIZE) {
        if (!start || this.blocks.length > 0) {
          throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
            subject: RAM_SUBJECT,
            offset: at,
            field: "flags",
            rule: "RAM_SAVE_FLAG_MEM_SIZE may appear only once, in the START section",
          });
        }
        await this.blockList(c, addr, at);
      } else if (kind === RAM_SAVE_FLAG_EOS) {
        return;
      } else if (kind === RAM_SAVE_FLAG_MULTIFD_FLUSH) {
        this.flushes++;
        await this.hooks.onFlush(this.flushes, at);
      } else if (kind === RAM_SAVE_FLAG_ZERO || kind === RAM_SAVE_FLAG_PAGE) {
        const block = await this.pageBlock(c, flags, at);
        if (addr + TARGET_PAGE_SIZE_N > block.usedLength) {
          throw new MappedRamError("ERR_INVALID_VALUE", {
            subject: `${SUBJECT} ramblock "${block.idstr}"`,
            offset: at,
            field: "address",
            rule: `page must lie inside used_length ${hex(block.usedLength)} (Illegal RAM offset)`,
            actual: hex(addr),
          });
        }
        if (kind === RAM_SAVE_FLAG_ZERO) {
          const fillAt = c.pos;
          const fill = await c.u8(`${SUBJECT} zero page of "${block.idstr}"`, "fill");
          if (fill !== 0) {
            throw new MappedRamError("ERR_INVALID_VALUE", {
              subject: `${SUBJECT} zero page of "${block.idstr}"`,
              offset: fillAt,
              field: "fill",
              rule: "must be 0 (Found a zero page with value)",
              expected: "0",
              actual: String(fill),
            });
          }
          this.zeroRecords++;
          await this.hooks.onZeroPage(block, addr, at);
        } else {
          const data = await c.take(TARGET_PAGE_SIZE, `${SUBJECT} page of "${block.idstr}"`, "data");
          this.pageRecords++;
          await this.hooks.onPage(block, addr, data, at);
        }
      } else {
        const xbzrle = (flags & RAM_SAVE_FLAG_XBZRLE) !== 0n;
        const hook = (flags & RAM_SAVE_FLAG_HOOK) !== 0n;
        throw new MappedRamError(xbzrle || hook ? "ERR_UNDECODABLE" : "ERR_BAD_RAM_FLAGS", {
          subject: RAM_SUBJECT,
          offset: at,
          field: "flags",
          rule: xbzrle
            ? "XBZRLE pages are not supported"
            : hook
              ? "RAM_SAVE_FLAG_HOOK (RDMA) is not supported"
              : `Unknown combination of migration flags: ${hex(flags)}`,
          actual: hex(flags),
        });
      }
    }
  }

  /** ram_block_from_stream */
  private async pageBlock(c: Cursor, flags: bigint, at: bigint): Promise<StreamBlock> {
    if ((flags & RAM_SAVE_FLAG_CONTINUE) !== 0n) {
      if (!this.last) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject: RAM_SUBJECT,
          offset: at,
          field: "flags",
          rule: "RAM_SAVE_FLAG_CONTINUE without a previous block (Ack, bad migration stream!)",
        });
      }
      return this.last;
    }
    const nameAt = c.pos;
    const name = fromLatin1(await c.countedBytes(RAM_SUBJECT, "idstr"));
    const block = this.blocks.find((b) => b.idstr === name);
    if (!block) {
      throw new MappedRamError("ERR_UNKNOWN_BLOCK", {
        subject: `${SUBJECT} ramblock "${name}"`,
        offset: nameAt,
        field: "idstr",
        rule: `Unknown ramblock "${name}", cannot accept migration`,
      });
    }
    this.last = block;
    return block;
  }

  /** parse_ramblocks: block records until their used_lengths add up to MEM_SIZE. */
  private async blockList(c: Cursor, total: bigint, memSizeAt: bigint): Promise<void> {
    if (total === 0n || total > MAX_MEM_SIZE) {
      throw new MappedRamError(total === 0n ? "ERR_INVALID_VALUE" : "ERR_TOO_LARGE", {
        subject: RAM_SUBJECT,
        offset: memSizeAt,
        field: "MEM_SIZE",
        rule: total === 0n ? "must not be 0" : `must be at most ${hex(MAX_MEM_SIZE)}`,
        actual: hex(total),
      });
    }
    let left = total;
    while (left > 0n) {
      const recordOffset = c.pos;
      const idstr = fromLatin1(await c.countedBytes(`${SUBJECT} RAM block record`, "idstr"));
      const subject = `${SUBJECT} ramblock "${idstr}"`;
      if (idstr.length === 0 || this.blocks.some((b) => b.idstr === idstr)) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject,
          offset: recordOffset,
          field: "idstr",
          rule: idstr.length === 0 ? "must not be empty" : "names a block that was already listed",
        });
      }
      const lenAt = c.pos;
      const usedLength = await c.u64be(subject, "used_length");
      if (usedLength === 0n || usedLength > left || usedLength % TARGET_PAGE_SIZE_N !== 0n) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject,
          offset: lenAt,
          field: "used_length",
          rule:
            usedLength > left
              ? `must not exceed what is left of MEM_SIZE ${hex(total)}: ${hex(left)}`
              : "must be a positive multiple of 0x1000",
          actual: hex(usedLength),
        });
      }
      const block: StreamBlock = { idstr, usedLength, numPages: Number(usedLength / TARGET_PAGE_SIZE_N) };
      if (this.ignoreShared) block.mrAddr = await c.u64be(subject, "mr->addr");
      this.blocks.push(block);
      left -= usedLength;
    }
    await this.hooks.onBlocks(this.blocks);
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
  const magicAt = c.pos;
  const magic = await c.u32be(SUBJECT, "magic");
  if (magic !== QEMU_VM_FILE_MAGIC) {
    throw new MappedRamError("ERR_BAD_MAGIC", {
      subject: SUBJECT,
      offset: magicAt,
      field: "magic",
      rule: `must be QEMU_VM_FILE_MAGIC ${hex(QEMU_VM_FILE_MAGIC)} ("QEVM")`,
      expected: hex(QEMU_VM_FILE_MAGIC),
      actual: hex(magic),
    });
  }
  const version = await c.u32be(SUBJECT, "version");
  if (version !== QEMU_VM_FILE_VERSION) {
    throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
      subject: SUBJECT,
      offset: magicAt + 4n,
      field: "version",
      rule:
        version === QEMU_VM_FILE_VERSION_COMPAT
          ? "SaveVM v2 format is obsolete and don't work anymore"
          : `must be QEMU_VM_FILE_VERSION ${QEMU_VM_FILE_VERSION}`,
      expected: String(QEMU_VM_FILE_VERSION),
      actual: String(version),
    });
  }
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
      const section = await readSectionHeader(c);
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
        await ram.payload(c, true);
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
      await readFooter(c, section);
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
      await ram.payload(c, false);
      await readFooter(c, ramSection);
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
      const section = await readSectionHeader(t);
      const n = devicePayloadSize(section, located?.value, at);
      devices.push({
        section,
        payload: (await t.take(n, `${SUBJECT} device "${section.idstr}"`, "payload")).slice(),
      });
      await readFooter(t, section);
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
