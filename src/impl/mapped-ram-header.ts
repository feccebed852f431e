// migration/ram.c: struct MappedRamHeader, mapped_ram_setup_ramblock / mapped_ram_read_header.
//
// | off | size | field          | value written                              |
// |  0  |  4   | version        | MAPPED_RAM_HDR_VERSION = 1                 |
// |  4  |  8   | page_size      | TARGET_PAGE_SIZE (4096)                    |
// | 12  |  8   | bitmap_offset  | absolute file offset of the block's bitmap |
// | 20  |  8   | pages_offset   | absolute file offset of the page array     |
import { ByteWriter, u32beAt, u64beAt } from "./bytes.js";
import { MAPPED_RAM_HEADER_SIZE } from "./constants.js";

export interface MappedRamHeader {
  version: number;
  pageSize: bigint;
  bitmapOffset: bigint;
  pagesOffset: bigint;
}

export function encodeMappedRamHeader(h: MappedRamHeader): Uint8Array {
  return new ByteWriter(MAPPED_RAM_HEADER_SIZE)
    .u32be(h.version)
    .u64be(h.pageSize)
    .u64be(h.bitmapOffset)
    .u64be(h.pagesOffset)
    .finish();
}

/** Decodes the 28 header bytes; the caller has checked the length. Values are not validated here. */
export function decodeMappedRamHeader(b: Uint8Array): MappedRamHeader {
  if (b.length !== MAPPED_RAM_HEADER_SIZE)
    throw new RangeError(`MappedRamHeader needs 28 bytes, got ${b.length}`);
  return {
    version: u32beAt(b, 0),
    pageSize: u64beAt(b, 4),
    bitmapOffset: u64beAt(b, 12),
    pagesOffset: u64beAt(b, 20),
  };
}
