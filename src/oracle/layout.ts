// migration/ram.c: mapped_ram_setup_ramblock, ram_save_setup; migration/savevm.c: qemu_savevm_state_header.
//
// Where every block's record, MappedRamHeader, bitmap and page array must be. All offsets are
// absolute file offsets (the `file:` URI's offset=N included), so the 1 MiB rounding of
// pages_offset depends on where the stream starts: offset N is not a uniform shift.
//
// | record field (per block)  | size                                      |
// |---------------------------|-------------------------------------------|
// | idstr length, idstr       | 1 + len                                   |
// | used_length               | 8, be64                                   |
// | mr->addr                  | 8, be64, only with x-ignore-shared        |
// | MappedRamHeader           | 28: be32 version, be64 page_size,         |
// |                           |     be64 bitmap_offset, be64 pages_offset |
import { ALIGNMENT, BITMAP_WORD_BYTES, HEADER_SIZE, PAGE_SIZE, RAM_SECTION_IDSTR } from "./constants.js";

export interface LayoutBlock {
  readonly idstr: string;
  readonly usedLength: bigint;
}

export interface LayoutOptions {
  /** where the stream starts: the `file:` URI's offset=N (default 0) */
  readonly startOffset?: bigint;
  readonly pageSize?: bigint;
  readonly alignment?: bigint;
  /**
   * The validated capabilities that are on, as listed in `configuration/capabilities`
   * (default `["mapped-ram"]`). `x-ignore-shared` adds be64 mr->addr to every block record.
   */
  readonly capabilities?: readonly string[];
  /** machine type name in the configuration section (default `none`) */
  readonly machine?: string;
  /** whether `configuration/uuid` is present (`-uuid` with validate-uuid) */
  readonly uuid?: boolean;
}

export interface BlockLayout {
  readonly idstr: string;
  readonly usedLength: bigint;
  readonly numPages: bigint;
  /** the u8 idstr length byte */
  readonly recordOffset: bigint;
  /** be64 mr->addr, present only with x-ignore-shared */
  readonly mrAddrOffset: bigint | undefined;
  readonly headerOffset: bigint;
  readonly bitmapOffset: bigint;
  readonly bitmapSize: bigint;
  readonly pagesOffset: bigint;
  /** where the main stream resumes: the next block's record, or the setup EOS after the last block */
  readonly resumeOffset: bigint;
}

export interface ExpectedLayout {
  /** the QEMU_VM_SECTION_START byte of the `ram` section */
  readonly ramSectionOffset: bigint;
  /** the be64 `total | RAM_SAVE_FLAG_MEM_SIZE` */
  readonly memSizeOffset: bigint;
  /** sum of used_length */
  readonly totalLength: bigint;
  readonly blocks: readonly BlockLayout[];
  /** where the setup EOS is written (after the last block's page array) */
  readonly resumeOffset: bigint;
}

/** `round_up` on absolute offsets (QEMU's ROUND_UP; the alignment need not be a power of two here). */
export function roundUp(v: bigint, alignment: bigint): bigint {
  return ((v + alignment - 1n) / alignment) * alignment;
}

/** `BITS_TO_LONGS(num_pages) * sizeof(unsigned long)` with 8-byte longs. */
export function bitmapSizeFor(numPages: bigint): bigint {
  const bitsPerWord = BITMAP_WORD_BYTES * 8n;
  return ((numPages + bitsPerWord - 1n) / bitsPerWord) * BITMAP_WORD_BYTES;
}

function byteLength(s: string): bigint {
  return BigInt(s.length); // names are byte strings (one UTF-16 unit per byte)
}

/** Bytes from the stream start to the `ram` SECTION_START byte: magic, version, configuration. */
export function preambleLength(options: LayoutOptions = {}): bigint {
  const machine = options.machine ?? "none";
  const caps = options.capabilities ?? ["mapped-ram"];
  let n = 4n + 4n + 1n + 4n + byteLength(machine);
  if (caps.length > 0) {
    n += 1n + 1n + byteLength("configuration/capabilities") + 4n + 4n;
    for (const c of caps) n += 1n + byteLength(c);
  }
  if (options.uuid) n += 1n + 1n + byteLength("configuration/uuid") + 4n + 16n;
  return n;
}

/**
 * One block placed at `recordOffset`: the rules of `mapped_ram_setup_ramblock`.
 * bitmap_offset = header end; pages_offset = round_up(bitmap end, alignment) on the absolute
 * offset; the main stream resumes at pages_offset + used_length.
 */
export function blockLayout(
  recordOffset: bigint,
  block: LayoutBlock,
  options: Pick<LayoutOptions, "pageSize" | "alignment" | "capabilities"> = {},
): BlockLayout {
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const alignment = options.alignment ?? ALIGNMENT;
  const ignoreShared = (options.capabilities ?? ["mapped-ram"]).includes("x-ignore-shared");
  const afterLength = recordOffset + 1n + byteLength(block.idstr) + 8n;
  const headerOffset = ignoreShared ? afterLength + 8n : afterLength;
  const numPages = block.usedLength / pageSize;
  const bitmapOffset = headerOffset + HEADER_SIZE;
  const bitmapSize = bitmapSizeFor(numPages);
  const pagesOffset = roundUp(bitmapOffset + bitmapSize, alignment);
  return {
    idstr: block.idstr,
    usedLength: block.usedLength,
    numPages,
    recordOffset,
    mrAddrOffset: ignoreShared ? afterLength : undefined,
    headerOffset,
    bitmapOffset,
    bitmapSize,
    pagesOffset,
    resumeOffset: pagesOffset + block.usedLength,
  };
}

/** Where QEMU's writer puts every block of a mapped-ram save (blocks in stream order). */
export function expectedLayout(blocks: readonly LayoutBlock[], options: LayoutOptions = {}): ExpectedLayout {
  const start = options.startOffset ?? 0n;
  const ramSectionOffset = start + preambleLength(options);
  // SECTION_START: type, be32 section_id, counted idstr "ram", be32 instance_id, be32 version_id
  const memSizeOffset = ramSectionOffset + 1n + 4n + 1n + byteLength(RAM_SECTION_IDSTR) + 4n + 4n;
  let at = memSizeOffset + 8n;
  const out: BlockLayout[] = [];
  let total = 0n;
  for (const b of blocks) {
    const l = blockLayout(at, b, options);
    out.push(l);
    total += b.usedLength;
    at = l.resumeOffset;
  }
  return { ramSectionOffset, memSizeOffset, totalLength: total, blocks: out, resumeOffset: at };
}
