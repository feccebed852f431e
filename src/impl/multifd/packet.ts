// migration/multifd.c: MultiFDInit_t (multifd_send_initial_packet / multifd_recv_initial_packet) and
// migration/multifd.h + multifd-nocomp.c: MultiFDPacket_t (multifd_send_fill_packet, multifd_ram_fill_packet,
// multifd_ram_unfill_packet). Every integer is big endian; both structs are packed.
//
// MultiFDInit_t, 64 bytes, first on every multifd socket:
// | off | size | field   | value                                     |
// |   0 |    4 | magic   | MULTIFD_MAGIC 0x11223344                  |
// |   4 |    4 | version | MULTIFD_VERSION 1                         |
// |   8 |   16 | uuid    | qemu_uuid, raw (zero without -uuid)       |
// |  24 |    1 | id      | channel id, 0-based                       |
// |  25 |   39 | unused  | 0                                         |
//
// MultiFDPacket_t, 320 + 8 × 128 = 1344 bytes, then normal_pages × 4096 bytes of page data:
// | off | size | field            | value                                                      |
// |   0 |    4 | magic            | MULTIFD_MAGIC                                              |
// |   4 |    4 | version          | MULTIFD_VERSION                                            |
// |   8 |    4 | flags            | bit 0 SYNC, bits 1-5 compression (NOCOMP 0), 0x40 device   |
// |  12 |    4 | pages_alloc      | 128 in RAM packets, 0 in SYNC packets                      |
// |  16 |    4 | normal_pages     | pages whose data follows                                   |
// |  20 |    4 | next_packet_size | payload bytes after the header (normal_pages × 4096)       |
// |  24 |    8 | packet_num       | global counter over all channels, SYNC packets included   |
// |  32 |    4 | zero_pages       | pages the receiver zeroes                                  |
// |  36 |   28 | unused           | 0                                                          |
// |  64 |  256 | ramblock         | idstr, NUL-terminated, zero padded                         |
// | 320 | 8×128| offset[]         | normal offsets, then zero offsets (bytes inside the block) |
import { ByteWriter, fromLatin1, hex, latin1, u8At, u32beAt, u64beArrayAt, u64beAt } from "../bytes.js";
import { MULTIFD_PAGES_PER_PACKET, TARGET_PAGE_SIZE, TARGET_PAGE_SIZE_N } from "../constants.js";
import { MappedRamError } from "../errors.js";

export const MULTIFD_MAGIC = 0x11223344;
export const MULTIFD_VERSION = 1;
/** MultiFDInit_t is 64 bytes. */
export const MULTIFD_INIT_SIZE = 64;
/** The fixed part of MultiFDPacket_t, before offset[]. */
export const MULTIFD_PACKET_FIXED_SIZE = 320;
/** page_count = MULTIFD_PACKET_SIZE / page size = 128 on x86_64. */
export const MULTIFD_PAGE_COUNT = MULTIFD_PAGES_PER_PACKET;
/** Header length every receiver reads: 320 + 8 × page_count = 1344. */
export const MULTIFD_PACKET_HEADER_SIZE = MULTIFD_PACKET_FIXED_SIZE + 8 * MULTIFD_PAGE_COUNT;
/** Length of the ramblock field (RAMBlock idstr). */
export const MULTIFD_RAMBLOCK_SIZE = 256;

export const MULTIFD_FLAG_SYNC = 0x1;
/** Bits 1-5: the compression method (NOCOMP 0, ZLIB 2, ZSTD 4, QPL 8, UADK 16, QATZIP 32). */
export const MULTIFD_FLAG_COMPRESSION_MASK = 0x3e;
export const MULTIFD_FLAG_NOCOMP = 0x0;
/** MultiFDPacketDeviceState_t (VFIO device state, new in 10.0). Not RAM; not handled here. */
export const MULTIFD_FLAG_DEVICE_STATE = 0x40;
/** Every flag a 10.0.2 sender may set. */
const MULTIFD_FLAGS_KNOWN = MULTIFD_FLAG_SYNC | MULTIFD_FLAG_COMPRESSION_MASK | MULTIFD_FLAG_DEVICE_STATE;

/** A decoded MultiFDInit_t (fields as on the wire; not checked). */
export interface MultiFDInit {
  magic: number;
  version: number;
  /** 16 raw bytes */
  uuid: Uint8Array;
  id: number;
}

/** multifd_send_initial_packet: magic, version, uuid, id, zeros. */
export function encodeMultiFDInit(init: { id: number; uuid?: Uint8Array }): Uint8Array {
  const uuid = init.uuid ?? new Uint8Array(16);
  if (uuid.length !== 16) throw new RangeError("uuid must be 16 bytes");
  if (!Number.isInteger(init.id) || init.id < 0 || init.id > 0xff) {
    throw new RangeError(`channel id ${init.id} does not fit in a byte`);
  }
  return new ByteWriter(MULTIFD_INIT_SIZE)
    .u32be(MULTIFD_MAGIC)
    .u32be(MULTIFD_VERSION)
    .bytes(uuid)
    .u8(init.id)
    .zeros(7 + 32)
    .finish();
}

/** Reads the 64 bytes of a MultiFDInit_t; the caller has checked the length. */
export function decodeMultiFDInit(b: Uint8Array): MultiFDInit {
  if (b.length !== MULTIFD_INIT_SIZE) throw new RangeError(`MultiFDInit_t needs 64 bytes, got ${b.length}`);
  return { magic: u32beAt(b, 0), version: u32beAt(b, 4), uuid: b.slice(8, 24), id: u8At(b, 24) };
}

/** Where a structure came from, for error messages: `multifd channel 1 packet 7` and its stream offset. */
export interface WireContext {
  subject: string;
  /** stream offset of the structure's first byte */
  offset: bigint;
}

function uuidText(u: Uint8Array): string {
  const h = [...u].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * multifd_recv_initial_packet's checks, with the id bound QEMU means (`id < channels`; 10.0.2 tests
 * `id > channels`, which lets id == channels through).
 */
export function checkMultiFDInit(
  init: MultiFDInit,
  expect: { channels: number; uuid: Uint8Array },
  at: WireContext,
): void {
  if (init.magic !== MULTIFD_MAGIC) {
    throw new MappedRamError("ERR_BAD_MAGIC", {
      subject: at.subject,
      offset: at.offset,
      field: "magic",
      rule: `must be MULTIFD_MAGIC ${hex(MULTIFD_MAGIC)}`,
      expected: hex(MULTIFD_MAGIC),
      actual: hex(init.magic),
    });
  }
  if (init.version !== MULTIFD_VERSION) {
    throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
      subject: at.subject,
      offset: at.offset + 4n,
      field: "version",
      rule: `must be MULTIFD_VERSION ${MULTIFD_VERSION}`,
      expected: String(MULTIFD_VERSION),
      actual: String(init.version),
    });
  }
  if (init.uuid.length !== 16 || !init.uuid.every((v, i) => v === expect.uuid[i])) {
    throw new MappedRamError("ERR_INVALID_VALUE", {
      subject: at.subject,
      offset: at.offset + 8n,
      field: "uuid",
      rule: `must be the destination's uuid ${uuidText(expect.uuid)}`,
      expected: uuidText(expect.uuid),
      actual: uuidText(init.uuid),
    });
  }
  if (init.id >= expect.channels) {
    throw new MappedRamError("ERR_INVALID_VALUE", {
      subject: at.subject,
      offset: at.offset + 24n,
      field: "id",
      rule: `must be below the number of channels ${expect.channels}`,
      expected: `< ${expect.channels}`,
      actual: String(init.id),
    });
  }
}

/** The fields of a MultiFDPacket_t header as on the wire. */
export interface MultiFDPacketHeader {
  magic: number;
  version: number;
  flags: number;
  pagesAlloc: number;
  normalPages: number;
  nextPacketSize: number;
  packetNum: bigint;
  zeroPages: number;
  /** the 256 raw bytes of the ramblock field */
  ramblock: Uint8Array;
  /** the raw offset[] array (page_count entries) */
  offsets: bigint[];
}

/** What to put in a RAM packet (multifd_ram_fill_packet) or a SYNC packet. */
export interface MultiFDPacketFields {
  flags: number;
  pagesAlloc: number;
  packetNum: bigint;
  /** block idstr (written NUL-terminated); absent in SYNC packets */
  ramblock?: string;
  /** offsets of the pages whose data follows, in payload order */
  normal: readonly bigint[];
  /** offsets of the pages the receiver zeroes */
  zero: readonly bigint[];
  /** defaults to normal.length × 4096 (no compression) */
  nextPacketSize?: number;
}

/** multifd_send_fill_packet + multifd_ram_fill_packet: a zeroed 1344-byte header with the fields set. */
export function encodeMultiFDPacket(p: MultiFDPacketFields): Uint8Array {
  const count = p.normal.length + p.zero.length;
  if (count > MULTIFD_PAGE_COUNT) {
    throw new RangeError(`a packet holds at most ${MULTIFD_PAGE_COUNT} pages, got ${count}`);
  }
  const name = latin1(p.ramblock ?? "");
  if (name.length >= MULTIFD_RAMBLOCK_SIZE) {
    throw new RangeError(`ramblock "${p.ramblock}" does not fit in 255 bytes`);
  }
  const w = new ByteWriter(MULTIFD_PACKET_HEADER_SIZE)
    .u32be(MULTIFD_MAGIC)
    .u32be(MULTIFD_VERSION)
    .u32be(p.flags)
    .u32be(p.pagesAlloc)
    .u32be(p.normal.length)
    .u32be(p.nextPacketSize ?? p.normal.length * TARGET_PAGE_SIZE)
    .u64be(p.packetNum)
    .u32be(p.zero.length)
    .zeros(4 + 24)
    .bytes(name)
    .zeros(MULTIFD_RAMBLOCK_SIZE - name.length);
  for (const o of p.normal) w.u64be(o);
  for (const o of p.zero) w.u64be(o);
  w.zeros(8 * (MULTIFD_PAGE_COUNT - count));
  return w.finish();
}

/** A SYNC packet as 10.0 sends it: flags = SYNC, everything else zero but packet_num. */
export function encodeSyncPacket(packetNum: bigint): Uint8Array {
  return encodeMultiFDPacket({ flags: MULTIFD_FLAG_SYNC, pagesAlloc: 0, packetNum, normal: [], zero: [] });
}

/** Reads the 1344 header bytes; the caller has checked the length. Values are not checked here. */
export function decodeMultiFDPacketHeader(b: Uint8Array): MultiFDPacketHeader {
  if (b.length !== MULTIFD_PACKET_HEADER_SIZE) {
    throw new RangeError(`MultiFDPacket_t needs ${MULTIFD_PACKET_HEADER_SIZE} bytes, got ${b.length}`);
  }
  const offsets = u64beArrayAt(b, MULTIFD_PACKET_FIXED_SIZE, MULTIFD_PAGE_COUNT);
  return {
    magic: u32beAt(b, 0),
    version: u32beAt(b, 4),
    flags: u32beAt(b, 8),
    pagesAlloc: u32beAt(b, 12),
    normalPages: u32beAt(b, 16),
    nextPacketSize: u32beAt(b, 20),
    packetNum: u64beAt(b, 24),
    zeroPages: u32beAt(b, 32),
    ramblock: b.slice(64, 64 + MULTIFD_RAMBLOCK_SIZE),
    offsets,
  };
}

/** A RAM block as the receiver knows it from the main channel's block list. */
export interface KnownBlock {
  idstr: string;
  usedLength: bigint;
}

/** Field offsets inside the header, for error positions. */
const AT = {
  magic: 0n,
  version: 4n,
  flags: 8n,
  pagesAlloc: 12n,
  normalPages: 16n,
  nextPacketSize: 20n,
  packetNum: 24n,
  zeroPages: 32n,
  ramblock: 64n,
  offset: BigInt(MULTIFD_PACKET_FIXED_SIZE),
} as const;

function invalid(
  at: WireContext,
  rel: bigint,
  field: string,
  rule: string,
  actual: string,
  expected?: string,
) {
  return new MappedRamError("ERR_INVALID_VALUE", {
    subject: at.subject,
    offset: at.offset + rel,
    field,
    rule,
    actual,
    expected,
  });
}

/** What the header alone says (checkMultiFDPacketHeader). */
export interface CheckedPacketHeader {
  sync: boolean;
  packetNum: bigint;
  /** normal_pages + zero_pages */
  pageCount: number;
  /** bytes of page data after the header */
  payloadSize: number;
}

/**
 * multifd_recv_unfill_packet_header + the counts of multifd_ram_unfill_packet + the nocomp flags check, plus
 * what QEMU leaves unchecked: unknown flag bits and next_packet_size = normal_pages × 4096.
 */
export function checkMultiFDPacketHeader(h: MultiFDPacketHeader, at: WireContext): CheckedPacketHeader {
  if (h.magic !== MULTIFD_MAGIC) {
    throw new MappedRamError("ERR_BAD_MAGIC", {
      subject: at.subject,
      offset: at.offset + AT.magic,
      field: "magic",
      rule: `must be MULTIFD_MAGIC ${hex(MULTIFD_MAGIC)}`,
      expected: hex(MULTIFD_MAGIC),
      actual: hex(h.magic),
    });
  }
  if (h.version !== MULTIFD_VERSION) {
    throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
      subject: at.subject,
      offset: at.offset + AT.version,
      field: "version",
      rule: `must be MULTIFD_VERSION ${MULTIFD_VERSION}`,
      expected: String(MULTIFD_VERSION),
      actual: String(h.version),
    });
  }
  if ((h.flags & ~MULTIFD_FLAGS_KNOWN) !== 0) {
    throw invalid(
      at,
      AT.flags,
      "flags",
      `has unknown bits ${hex(h.flags & ~MULTIFD_FLAGS_KNOWN)}`,
      hex(h.flags),
    );
  }
  if ((h.flags & MULTIFD_FLAG_DEVICE_STATE) !== 0) {
    throw invalid(
      at,
      AT.flags,
      "flags",
      "MULTIFD_FLAG_DEVICE_STATE (VFIO device state) is not supported",
      hex(h.flags),
    );
  }
  if ((h.flags & MULTIFD_FLAG_COMPRESSION_MASK) !== MULTIFD_FLAG_NOCOMP) {
    throw invalid(
      at,
      AT.flags,
      "flags",
      "compression must be MULTIFD_FLAG_NOCOMP (multifd-compression none)",
      hex(h.flags),
      hex(MULTIFD_FLAG_NOCOMP),
    );
  }
  if (h.pagesAlloc > MULTIFD_PAGE_COUNT) {
    throw invalid(
      at,
      AT.pagesAlloc,
      "pages_alloc",
      `must be at most the page count ${MULTIFD_PAGE_COUNT}`,
      String(h.pagesAlloc),
    );
  }
  if (h.normalPages > h.pagesAlloc) {
    throw invalid(
      at,
      AT.normalPages,
      "normal_pages",
      `must be at most pages_alloc ${h.pagesAlloc}`,
      String(h.normalPages),
    );
  }
  if (h.zeroPages > h.pagesAlloc - h.normalPages) {
    throw invalid(
      at,
      AT.zeroPages,
      "zero_pages",
      `must be at most pages_alloc - normal_pages = ${h.pagesAlloc - h.normalPages}`,
      String(h.zeroPages),
    );
  }
  const payloadSize = h.normalPages * TARGET_PAGE_SIZE;
  if (h.nextPacketSize !== payloadSize) {
    throw invalid(
      at,
      AT.nextPacketSize,
      "next_packet_size",
      `must be normal_pages × 0x1000 = ${hex(payloadSize)}`,
      hex(h.nextPacketSize),
      hex(payloadSize),
    );
  }
  return {
    sync: (h.flags & MULTIFD_FLAG_SYNC) !== 0,
    packetNum: h.packetNum,
    pageCount: h.normalPages + h.zeroPages,
    payloadSize,
  };
}

/** The pages of a packet whose header passed checkMultiFDPacketHeader. */
export interface CheckedPages {
  block: KnownBlock;
  normal: bigint[];
  zero: bigint[];
}

/**
 * The rest of multifd_ram_unfill_packet: the block name (NUL inside the 256 bytes, a known block) and every
 * offset leaving a whole page inside the block; plus page alignment, which QEMU does not check.
 * `lookup` resolves a block name (undefined: unknown). Only for packets with pages.
 */
export function checkMultiFDPacketPages(
  h: MultiFDPacketHeader,
  lookup: (idstr: string) => KnownBlock | undefined,
  at: WireContext,
): CheckedPages {
  const nul = h.ramblock.indexOf(0);
  if (nul < 0) {
    throw invalid(at, AT.ramblock, "ramblock", "must be NUL-terminated within 256 bytes", "no NUL");
  }
  const idstr = fromLatin1(h.ramblock.subarray(0, nul));
  const block = lookup(idstr);
  if (!block) {
    throw new MappedRamError("ERR_UNKNOWN_BLOCK", {
      subject: at.subject,
      offset: at.offset + AT.ramblock,
      field: "ramblock",
      rule: `multifd: unknown ram block ${idstr} (not in the main channel's block list)`,
      actual: JSON.stringify(idstr),
    });
  }
  const out: CheckedPages = { block, normal: [], zero: [] };
  const last = block.usedLength - TARGET_PAGE_SIZE_N;
  for (let i = 0; i < h.normalPages + h.zeroPages; i++) {
    const o = h.offsets[i] as bigint;
    const field = `offset[${i}]`;
    if (o > last || last < 0n) {
      throw invalid(
        at,
        AT.offset + BigInt(8 * i),
        field,
        `must leave a whole page inside ramblock "${idstr}" of ${hex(block.usedLength)} bytes (multifd: offset too long)`,
        hex(o),
        `<= ${hex(last)}`,
      );
    }
    if (o % TARGET_PAGE_SIZE_N !== 0n) {
      throw invalid(at, AT.offset + BigInt(8 * i), field, "must be a multiple of 0x1000", hex(o));
    }
    if (i < h.normalPages) out.normal.push(o);
    else out.zero.push(o);
  }
  return out;
}

/** A packet that passed every check. */
export interface CheckedPacket extends CheckedPacketHeader {
  /** absent when the packet carries no pages */
  pages?: CheckedPages;
}

/** checkMultiFDPacketHeader, then checkMultiFDPacketPages when the packet has pages. */
export function checkMultiFDPacket(
  h: MultiFDPacketHeader,
  lookup: (idstr: string) => KnownBlock | undefined,
  at: WireContext,
): CheckedPacket {
  const head = checkMultiFDPacketHeader(h, at);
  if (head.pageCount === 0) return head;
  return { ...head, pages: checkMultiFDPacketPages(h, lookup, at) };
}
