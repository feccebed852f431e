// MultiFDInit_t and MultiFDPacket_t against bytes written out by hand from
// ../shared/spec/mapped-ram-format.md section 6 (6.1, 6.2) — never from our own encoder's output.
import { describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import {
  checkMultiFDInit,
  checkMultiFDPacket,
  decodeMultiFDInit,
  decodeMultiFDPacketHeader,
  encodeMultiFDInit,
  encodeMultiFDPacket,
  encodeSyncPacket,
  MULTIFD_PACKET_HEADER_SIZE,
} from "../../src/impl/multifd/packet.js";
import { coalescedViews, partitionZeroPages } from "../../src/impl/multifd/sender.js";

const hexBytes = (s: string) =>
  Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (h) => Number.parseInt(h, 16));
const zeros = (n: number) => "00".repeat(n);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");

/** Spec 6.1: magic, version, 16-byte uuid, u8 id, 7 + 32 reserved zero bytes = 64 bytes. */
const INIT_CHANNEL_3 =
  "11223344" + // magic
  "00000001" + // version
  "6a7c4ad36ef44b149e3c1f2a3b4c5d6e" + // uuid 6a7c4ad3-6ef4-4b14-9e3c-1f2a3b4c5d6e
  "03" + // id
  zeros(7) +
  zeros(32);
const UUID = hexBytes("6a7c4ad36ef44b149e3c1f2a3b4c5d6e");

/**
 * Spec 6.2: a RAM packet of block "pc.ram" with 2 normal pages (0x2000, 0x0) and 1 zero page (0x5000),
 * packet_num 7, 128 pages allocated: 320 fixed bytes + 128 offsets = 1344 bytes.
 */
const RAM_PACKET =
  "11223344" + // magic
  "00000001" + // version
  "00000000" + // flags: NOCOMP
  "00000080" + // pages_alloc 128
  "00000002" + // normal_pages
  "00002000" + // next_packet_size = 2 * 4096
  "0000000000000007" + // packet_num
  "00000001" + // zero_pages
  zeros(4) + // unused32
  zeros(24) + // unused64[3]
  ascii("pc.ram") +
  zeros(256 - 6) + // ramblock
  "0000000000002000" + // offset[0] normal
  "0000000000000000" + // offset[1] normal
  "0000000000005000" + // offset[2] zero
  zeros(8 * 125);

/** Spec 6.2: SYNC packets are whole headers with flags = 1 and only packet_num set. */
const SYNC_PACKET_9 =
  "11223344" +
  "00000001" +
  "00000001" + // flags: SYNC
  "00000000" + // pages_alloc 0
  "00000000" +
  "00000000" +
  "0000000000000009" + // packet_num
  zeros(4) +
  zeros(4 + 24) +
  zeros(256) +
  zeros(8 * 128);

const ctx = (subject = "multifd channel 1 packet 7") => ({ subject, offset: 0x1000n });
const blocks = new Map([["pc.ram", { idstr: "pc.ram", usedLength: 0x8000n }]]);
const lookup = (s: string) => blocks.get(s);

function thrown(f: () => unknown): MappedRamError {
  try {
    f();
  } catch (e) {
    if (e instanceof MappedRamError) return e;
    throw e;
  }
  throw new Error("expected a MappedRamError");
}

/** The RAM packet with `bytes` (hex) written at byte `at`. */
function patched(at: number, bytes: string): Uint8Array {
  const b = hexBytes(RAM_PACKET);
  b.set(hexBytes(bytes), at);
  return b;
}

describe("MultiFDInit_t", () => {
  it("encodes the 64 bytes of spec 6.1", () => {
    expect(Buffer.from(encodeMultiFDInit({ id: 3, uuid: UUID })).toString("hex")).toBe(INIT_CHANNEL_3);
    expect(encodeMultiFDInit({ id: 0 })).toEqual(hexBytes(`1122334400000001${zeros(56)}`));
  });

  it("decodes and checks it", () => {
    const init = decodeMultiFDInit(hexBytes(INIT_CHANNEL_3));
    expect(init).toEqual({ magic: 0x11223344, version: 1, uuid: UUID, id: 3 });
    expect(() => checkMultiFDInit(init, { channels: 4, uuid: UUID }, ctx())).not.toThrow();
  });

  it("refuses a wrong magic, version, uuid, and an id that is not below the channel count", () => {
    const good = decodeMultiFDInit(hexBytes(INIT_CHANNEL_3));
    const e1 = thrown(() =>
      checkMultiFDInit({ ...good, magic: 0x11223345 }, { channels: 4, uuid: UUID }, ctx()),
    );
    expect(e1.code).toBe("ERR_BAD_MAGIC");
    expect(e1.field).toBe("magic");
    expect(
      e1.message.startsWith("cannot decode multifd channel 1 packet 7 at offset 0x1000: magic must be"),
    ).toBe(true);
    const e2 = thrown(() => checkMultiFDInit({ ...good, version: 2 }, { channels: 4, uuid: UUID }, ctx()));
    expect(e2.code).toBe("ERR_UNSUPPORTED_VERSION");
    expect(e2.offset).toBe(0x1004n);
    const e3 = thrown(() => checkMultiFDInit(good, { channels: 4, uuid: new Uint8Array(16) }, ctx()));
    expect(e3.code).toBe("ERR_INVALID_VALUE");
    expect(e3.field).toBe("uuid");
    // QEMU 10.0.2 checks `id > channels`; id == channels is out of range all the same.
    const e4 = thrown(() => checkMultiFDInit(good, { channels: 3, uuid: UUID }, ctx()));
    expect(e4.code).toBe("ERR_INVALID_VALUE");
    expect(e4.field).toBe("id");
    expect(e4.offset).toBe(0x1018n);
  });
});

describe("MultiFDPacket_t", () => {
  it("is 1344 bytes for 4 KiB pages", () => {
    expect(MULTIFD_PACKET_HEADER_SIZE).toBe(1344);
    expect(RAM_PACKET.length / 2).toBe(1344);
  });

  it("encodes a RAM packet with 2 normal + 1 zero page as spec 6.2 lays it out", () => {
    const b = encodeMultiFDPacket({
      flags: 0,
      pagesAlloc: 128,
      packetNum: 7n,
      ramblock: "pc.ram",
      normal: [0x2000n, 0x0n],
      zero: [0x5000n],
    });
    expect(Buffer.from(b).toString("hex")).toBe(RAM_PACKET);
  });

  it("encodes a SYNC packet", () => {
    expect(Buffer.from(encodeSyncPacket(9n)).toString("hex")).toBe(SYNC_PACKET_9);
  });

  it("decodes and checks both", () => {
    const h = decodeMultiFDPacketHeader(hexBytes(RAM_PACKET));
    expect(h).toMatchObject({
      magic: 0x11223344,
      version: 1,
      flags: 0,
      pagesAlloc: 128,
      normalPages: 2,
      nextPacketSize: 0x2000,
      packetNum: 7n,
      zeroPages: 1,
    });
    expect(checkMultiFDPacket(h, lookup, ctx())).toEqual({
      sync: false,
      packetNum: 7n,
      pageCount: 3,
      payloadSize: 0x2000,
      pages: { block: blocks.get("pc.ram"), normal: [0x2000n, 0n], zero: [0x5000n] },
    });
    const s = checkMultiFDPacket(decodeMultiFDPacketHeader(hexBytes(SYNC_PACKET_9)), lookup, ctx());
    expect(s).toEqual({ sync: true, packetNum: 9n, pageCount: 0, payloadSize: 0 });
  });

  const cases: Array<[string, number, string, string, string]> = [
    ["bad magic", 0, "11223345", "ERR_BAD_MAGIC", "magic"],
    ["version 2", 4, "00000002", "ERR_UNSUPPORTED_VERSION", "version"],
    ["zlib compression", 8, "00000002", "ERR_INVALID_VALUE", "flags"],
    ["device state", 8, "00000040", "ERR_INVALID_VALUE", "flags"],
    ["an unknown flag", 8, "00000080", "ERR_INVALID_VALUE", "flags"],
    ["pages_alloc 129", 12, "00000081", "ERR_INVALID_VALUE", "pages_alloc"],
    ["normal_pages over pages_alloc", 12, "00000002", "ERR_INVALID_VALUE", "zero_pages"],
    ["normal_pages 129", 16, "00000081", "ERR_INVALID_VALUE", "normal_pages"],
    ["next_packet_size off by one", 20, "00002001", "ERR_INVALID_VALUE", "next_packet_size"],
    ["zero_pages over the rest", 32, "0000007f", "ERR_INVALID_VALUE", "zero_pages"],
    ["an unknown block", 64, ascii("pc.rom"), "ERR_UNKNOWN_BLOCK", "ramblock"],
    ["an offset past the block", 320, "0000000000008000", "ERR_INVALID_VALUE", "offset[0]"],
    ["a zero-page offset past the block", 336, "0000000000007001", "ERR_INVALID_VALUE", "offset[2]"],
    ["an unaligned offset", 328, "0000000000000800", "ERR_INVALID_VALUE", "offset[1]"],
  ];
  for (const [name, at, bytes, code, field] of cases) {
    it(`refuses ${name} (${code}, field ${field})`, () => {
      const e = thrown(() =>
        checkMultiFDPacket(decodeMultiFDPacketHeader(patched(at, bytes)), lookup, ctx()),
      );
      expect(e.code).toBe(code);
      expect(e.field).toBe(field);
      expect(e.subject).toBe("multifd channel 1 packet 7");
      expect(e.message.startsWith(`cannot decode multifd channel 1 packet 7 at offset 0x`)).toBe(true);
    });
  }

  it("refuses a ramblock field without NUL", () => {
    const b = hexBytes(RAM_PACKET);
    b.fill(0x61, 64, 320);
    const e = thrown(() => checkMultiFDPacket(decodeMultiFDPacketHeader(b), lookup, ctx()));
    expect(e.code).toBe("ERR_INVALID_VALUE");
    expect(e.field).toBe("ramblock");
  });

  it("leaves the block name unchecked when a packet has no pages (multifd_ram_unfill_packet)", () => {
    const b = hexBytes(SYNC_PACKET_9);
    b.set(hexBytes(ascii("nosuch")), 64);
    expect(checkMultiFDPacket(decodeMultiFDPacketHeader(b), lookup, ctx()).pageCount).toBe(0);
  });
});

describe("zero-page partition (multifd_send_zero_page_detect)", () => {
  it("swaps each zero page with the last unchecked one, so normal pages come first", () => {
    const page = (v: number) => new Uint8Array(4096).fill(v);
    // pages 0..4: N Z N Z N → i=0 N; i=1 Z swaps with 4 (N); i=1 N; i=2 N; i=3 Z swaps with 3 (itself)
    const offsets = [0n, 1n, 2n, 3n, 4n];
    const data = [page(1), page(0), page(2), page(0), page(3)];
    const zero = [false, true, false, true, false];
    expect(partitionZeroPages(offsets, data, zero)).toBe(3);
    expect(offsets).toEqual([0n, 4n, 2n, 3n, 1n]);
    expect(data.map((d) => d[0])).toEqual([1, 3, 2, 0, 0]);
    expect(zero).toEqual([false, false, false, true, true]);
  });
});

describe("a packet's normal pages as views of the read buffers (coalescedViews)", () => {
  const at = (v: Uint8Array[], buffers: ArrayBufferLike[]) =>
    v.map((x) => [buffers.indexOf(x.buffer), x.byteOffset, x.byteLength]);

  it("joins neighbours in one buffer, in the order given, and stops at count", () => {
    const a = new ArrayBuffer(6 * 4096);
    const pages = [0, 1, 2, 5, 3, 4].map((i) => new Uint8Array(a, i * 4096, 4096));
    // 0,1,2 are neighbours; 5 is not after 2; 3 is not after 5; 4 would join 3 but count is 5
    expect(at(coalescedViews(pages, 5), [a])).toEqual([
      [0, 0, 3 * 4096],
      [0, 5 * 4096, 4096],
      [0, 3 * 4096, 4096],
    ]);
    expect(at(coalescedViews(pages, 6), [a]).at(-1)).toEqual([0, 3 * 4096, 2 * 4096]);
    expect(coalescedViews(pages, 0)).toEqual([]);
  });

  it("never joins pages of two buffers, even where their offsets would follow", () => {
    const a = new ArrayBuffer(2 * 4096);
    const b = new ArrayBuffer(2 * 4096);
    const pages = [new Uint8Array(a, 0, 4096), new Uint8Array(b, 4096, 4096), new Uint8Array(b, 0, 4096)];
    expect(at(coalescedViews(pages, 3), [a, b])).toEqual([
      [0, 0, 4096],
      [1, 4096, 4096],
      [1, 0, 4096],
    ]);
  });
});
