// migration/ram.c: ram_load_precopy, parse_ramblocks, parse_ramblock, parse_ramblock_mapped_ram,
// mapped_ram_read_header — the RAM section payload, for mapped-ram and ordinary precopy streams.
//
// Every record starts with a be64: high bits = address or size, low 12 bits = RAM_SAVE_FLAG_*.
import { fromLatin1, hex } from "./bytes.js";
import {
  MAPPED_RAM_HDR_VERSION,
  MAPPED_RAM_HEADER_SIZE,
  RAM_FLAGS_INVALID_WITH_MAPPED_RAM,
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
} from "./constants.js";
import { MappedRamError } from "./errors.js";
import { bitmapSizeFor } from "./layout.js";
import { decodeMappedRamHeader, type MappedRamHeader } from "./mapped-ram-header.js";
import type { Cursor } from "./source.js";

export interface MappedRamBlockInfo {
  headerOffset: bigint;
  header: MappedRamHeader;
  bitmapOffset: bigint;
  bitmapSize: bigint;
  pagesOffset: bigint;
  /** pages_offset + used_length: where the stream continues */
  end: bigint;
  /**
   * QEMU 11.0+ with x-ignore-shared: a block whose RAM is shared memory, not in the file — its header
   * has bitmap_offset == pages_offset == 0 and no region is reserved (the stream goes on after it)
   */
  ignored?: true;
}

export interface ParsedRamBlock {
  idstr: string;
  usedLength: bigint;
  numPages: bigint;
  /** offset of the u8 idstr length */
  recordOffset: bigint;
  /** be64 mr->addr (x-ignore-shared) */
  mrAddr?: bigint;
  /** present in mapped-ram streams */
  mappedRam?: MappedRamBlockInfo;
}

/** A page record of an ordinary (non-mapped-ram) stream, handed to the caller. */
export interface InlinePage {
  block: ParsedRamBlock;
  /** byte offset inside the block */
  address: bigint;
  /** RAM_SAVE_FLAG_ZERO: the fill byte; RAM_SAVE_FLAG_PAGE: the 4096 bytes */
  zeroFill?: number;
  data?: Uint8Array;
  /** file offset of the record */
  offset: bigint;
}

export interface RamLoadOptions {
  mappedRam: boolean;
  /** x-ignore-shared listed: every block record carries be64 mr->addr */
  ignoreShared: boolean;
  /** called for every PAGE/ZERO record of an ordinary stream, in order */
  onInlinePage?: (p: InlinePage) => Promise<void> | void;
  /** put before every error subject, e.g. "main channel " for a socket's main channel */
  subjectPrefix?: string;
  /** after the START section's block list (MEM_SIZE at `memSizeOffset`), before any page; awaited */
  onBlocks?: (
    blocks: readonly ParsedRamBlock[],
    memSize: bigint,
    memSizeOffset: bigint,
  ) => Promise<void> | void;
  /** each RAM_SAVE_FLAG_MULTIFD_FLUSH (1-based, counted across sections): a sync point; awaited */
  onFlush?: (index: number, offset: bigint) => Promise<void> | void;
}

export interface RamPayloadSummary {
  /** MEM_SIZE total (START only) */
  memSize?: bigint;
  /** offsets of RAM_SAVE_FLAG_MULTIFD_FLUSH records */
  multifdFlushes: bigint[];
  pages: number;
  zeroPages: number;
  /** offset of the EOS record */
  eosOffset: bigint;
}

/** State shared by the START, PART and END payloads of one RAM section. */
export class RamLoadState {
  readonly blocks: ParsedRamBlock[] = [];
  private last: ParsedRamBlock | undefined;
  private flushes = 0;
  constructor(readonly opts: RamLoadOptions) {}

  /** An error subject, with the caller's prefix. */
  private subject(s: string): string {
    return `${this.opts.subjectPrefix ?? ""}${s}`;
  }

  byName(name: string): ParsedRamBlock | undefined {
    return this.blocks.find((b) => b.idstr === name);
  }

  /** Reads one RAM section payload up to and including EOS. */
  async parsePayload(c: Cursor, section: string): Promise<RamPayloadSummary> {
    const sectionName = this.subject(section);
    const summary: RamPayloadSummary = { multifdFlushes: [], pages: 0, zeroPages: 0, eosOffset: 0n };
    for (;;) {
      const at = c.pos;
      const word = await c.u64be(`${sectionName} RAM record`, "flags");
      const flags = word & TARGET_PAGE_MASK_N;
      const addr = word & ~TARGET_PAGE_MASK_N;
      if (this.opts.mappedRam && (flags & RAM_FLAGS_INVALID_WITH_MAPPED_RAM) !== 0n) {
        throw new MappedRamError("ERR_BAD_RAM_FLAGS", {
          subject: `${sectionName} RAM record`,
          offset: at,
          field: "flags",
          rule: `Unexpected RAM flags: ${flags & RAM_FLAGS_INVALID_WITH_MAPPED_RAM} (invalid in a mapped-ram stream)`,
          actual: hex(flags),
        });
      }
      const kind = flags & ~RAM_SAVE_FLAG_CONTINUE;
      if (kind === RAM_SAVE_FLAG_MEM_SIZE) {
        if (summary.memSize !== undefined || this.blocks.length > 0) {
          throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
            subject: `${sectionName} RAM record`,
            offset: at,
            rule: "RAM_SAVE_FLAG_MEM_SIZE may appear only once",
          });
        }
        summary.memSize = addr;
        await this.parseBlocks(c, addr, at);
        await this.opts.onBlocks?.(this.blocks, addr, at);
      } else if (kind === RAM_SAVE_FLAG_EOS) {
        summary.eosOffset = at;
        return summary;
      } else if (kind === RAM_SAVE_FLAG_MULTIFD_FLUSH) {
        summary.multifdFlushes.push(at);
        await this.opts.onFlush?.(++this.flushes, at);
      } else if (kind === RAM_SAVE_FLAG_PAGE || kind === RAM_SAVE_FLAG_ZERO) {
        const block = await this.pageBlock(c, flags, at, sectionName);
        if (addr + TARGET_PAGE_SIZE_N > block.usedLength) {
          throw new MappedRamError("ERR_INVALID_VALUE", {
            subject: this.subject(`ramblock "${block.idstr}"`),
            offset: at,
            field: "address",
            rule: `page must lie inside used_length ${hex(block.usedLength)}`,
            actual: hex(addr),
          });
        }
        if (kind === RAM_SAVE_FLAG_ZERO) {
          const fillAt = c.pos;
          const fill = await c.u8(this.subject(`zero page record of "${block.idstr}"`), "fill");
          if (fill !== 0) {
            // ram_load_precopy (since QEMU 8.2): a zero page must be filled with 0
            throw new MappedRamError("ERR_INVALID_VALUE", {
              subject: this.subject(`zero page record of "${block.idstr}"`),
              offset: fillAt,
              field: "fill",
              rule: `Found a zero page with value ${fill}`,
              expected: "0",
              actual: String(fill),
            });
          }
          summary.zeroPages++;
          await this.opts.onInlinePage?.({ block, address: addr, zeroFill: fill, offset: at });
        } else {
          const data = await c.take(
            TARGET_PAGE_SIZE,
            this.subject(`page record of "${block.idstr}"`),
            "data",
          );
          summary.pages++;
          await this.opts.onInlinePage?.({ block, address: addr, data, offset: at });
        }
      } else {
        const xbzrle = (flags & RAM_SAVE_FLAG_XBZRLE) !== 0n;
        const hook = (flags & RAM_SAVE_FLAG_HOOK) !== 0n;
        throw new MappedRamError(xbzrle || hook ? "ERR_UNDECODABLE" : "ERR_BAD_RAM_FLAGS", {
          subject: `${sectionName} RAM record`,
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

  private async pageBlock(
    c: Cursor,
    flags: bigint,
    at: bigint,
    sectionName: string,
  ): Promise<ParsedRamBlock> {
    if ((flags & RAM_SAVE_FLAG_CONTINUE) !== 0n) {
      if (!this.last) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject: `${sectionName} RAM record`,
          offset: at,
          field: "flags",
          rule: "RAM_SAVE_FLAG_CONTINUE without a previous block",
        });
      }
      return this.last;
    }
    const nameAt = c.pos;
    const name = fromLatin1(await c.countedBytes(`${sectionName} RAM record`, "idstr"));
    const block = this.byName(name);
    if (!block) {
      throw new MappedRamError("ERR_UNKNOWN_BLOCK", {
        subject: this.subject(`ramblock "${name}"`),
        offset: nameAt,
        field: "idstr",
        rule: `Unknown ramblock "${name}", cannot accept migration`,
      });
    }
    this.last = block;
    return block;
  }

  /** parse_ramblocks: block records until their lengths add up to MEM_SIZE. */
  private async parseBlocks(c: Cursor, total: bigint, memSizeAt: bigint): Promise<void> {
    let left = total;
    while (left > 0n) {
      const recordOffset = c.pos;
      const subject = this.subject("RAM block record");
      const idstr = fromLatin1(await c.countedBytes(subject, "idstr"));
      const bsubject = this.subject(`ramblock "${idstr}"`);
      if (idstr.length === 0 || this.byName(idstr)) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject: bsubject,
          offset: recordOffset,
          field: "idstr",
          rule: idstr.length === 0 ? "must not be empty" : "names a block that was already listed",
        });
      }
      const lenAt = c.pos;
      const usedLength = await c.u64be(bsubject, "used_length");
      if (usedLength === 0n || usedLength > left || usedLength % TARGET_PAGE_SIZE_N !== 0n) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject: bsubject,
          offset: lenAt,
          field: "used_length",
          rule:
            usedLength > left
              ? `must not exceed what is left of MEM_SIZE ${hex(total)} (at ${hex(memSizeAt)}): ${hex(left)}`
              : "must be a positive multiple of 0x1000",
          actual: hex(usedLength),
        });
      }
      const block: ParsedRamBlock = {
        idstr,
        usedLength,
        numPages: usedLength / TARGET_PAGE_SIZE_N,
        recordOffset,
      };
      if (this.opts.ignoreShared) block.mrAddr = await c.u64be(bsubject, "mr->addr");
      if (this.opts.mappedRam) block.mappedRam = await this.parseMappedRamHeader(c, block);
      this.blocks.push(block);
      left -= usedLength;
    }
  }

  /** parse_ramblock_mapped_ram: header checks as QEMU does them, plus page_size and range checks. */
  private async parseMappedRamHeader(c: Cursor, block: ParsedRamBlock): Promise<MappedRamBlockInfo> {
    const subject = `ramblock "${block.idstr}"`;
    const headerOffset = c.pos;
    const raw = await c.take(MAPPED_RAM_HEADER_SIZE, subject, "MappedRamHeader");
    const header = decodeMappedRamHeader(raw);
    if (header.version > MAPPED_RAM_HDR_VERSION) {
      throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
        subject,
        offset: headerOffset,
        field: "version",
        rule: `Migration mapped-ram capability version not supported (expected <= ${MAPPED_RAM_HDR_VERSION}, got ${header.version})`,
        expected: `<= ${MAPPED_RAM_HDR_VERSION}`,
        actual: String(header.version),
      });
    }
    if (header.pageSize !== TARGET_PAGE_SIZE_N) {
      // QEMU does not check this and silently loads the wrong pages; we refuse.
      throw new MappedRamError("ERR_INVALID_VALUE", {
        subject,
        offset: headerOffset + 4n,
        field: "page_size",
        rule: `must be the target page size ${hex(TARGET_PAGE_SIZE_N)}`,
        expected: hex(TARGET_PAGE_SIZE_N),
        actual: hex(header.pageSize),
      });
    }
    if (header.pagesOffset % TARGET_PAGE_SIZE_N !== 0n) {
      throw new MappedRamError("ERR_INVALID_VALUE", {
        subject,
        offset: headerOffset + 20n,
        field: "pages_offset",
        rule: `must be a multiple of ${hex(TARGET_PAGE_SIZE_N)} (Error reading ramblock ${block.idstr} pages, region has bad alignment)`,
        expected: `a multiple of ${hex(TARGET_PAGE_SIZE_N)}`,
        actual: hex(header.pagesOffset),
      });
    }
    if (this.opts.ignoreShared && header.bitmapOffset === 0n && header.pagesOffset === 0n) {
      return {
        headerOffset,
        header,
        bitmapOffset: 0n,
        bitmapSize: 0n,
        pagesOffset: 0n,
        end: c.pos,
        ignored: true,
      };
    }
    const bitmapSize = bitmapSizeFor(block.numPages);
    const size = c.source.size;
    if (header.bitmapOffset + bitmapSize > size) {
      throw new MappedRamError("ERR_TRUNCATED", {
        subject,
        offset: headerOffset + 12n,
        field: "bitmap_offset",
        rule: `bitmap ${hex(header.bitmapOffset)}+${hex(bitmapSize)} must lie inside the file of ${hex(size)} bytes (Error reading dirty bitmap)`,
        actual: hex(header.bitmapOffset),
        bytesRequested: bitmapSize,
        bytesAvailable: size > header.bitmapOffset ? size - header.bitmapOffset : 0n,
      });
    }
    const end = header.pagesOffset + block.usedLength;
    // The main stream continues at pages_offset + used_length.
    c.seek(end);
    return {
      headerOffset,
      header,
      bitmapOffset: header.bitmapOffset,
      bitmapSize,
      pagesOffset: header.pagesOffset,
      end,
    };
  }
}
