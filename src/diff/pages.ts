// The contents of a RAM block as a loader sees them (migration/ram.c: read_ramblock_mapped_ram for
// mapped-ram, ram_load_precopy for ordinary streams): a clear bitmap bit means a zero page, whatever
// the page array holds there. Positions never leak out of here: callers see page indexes only.
import { Buffer } from "node:buffer";
import type { PageBitmap } from "../impl/bitmap.js";
import { TARGET_PAGE_SIZE, TARGET_PAGE_SIZE_N } from "../impl/constants.js";
import { checkRunsInFile, readBlockBitmap } from "../impl/extract.js";
import { MappedRamError, type ParsedRamBlock, type RandomAccessSource, toSafeNumber } from "../impl/index.js";
import type { PageRange } from "./types.js";

export const PAGE_SIZE = TARGET_PAGE_SIZE;

/** One RAM block's pages, by index. */
export interface BlockPages {
  readonly idstr: string;
  readonly numPages: number;
  /** bit set (mapped-ram) / a page record with data (ordinary stream) */
  present(page: number): boolean;
  /** true when no page in [first, end) is present: they all read as zeros */
  noneIn(first: number, end: number): boolean;
  /** Loader-visible contents of pages [first, first + count) into `into` (count × 4096 bytes). */
  read(first: number, count: number, into: Uint8Array): Promise<void>;
}

/** A mapped-ram block: the bitmap decides, present pages come from the page array. */
export class MappedRamPages implements BlockPages {
  readonly idstr: string;
  readonly numPages: number;
  private constructor(
    private readonly src: RandomAccessSource,
    private readonly pagesOffset: bigint,
    private readonly bitmap: PageBitmap,
    idstr: string,
  ) {
    this.idstr = idstr;
    this.numPages = bitmap.numPages;
  }

  /** Reads the bitmap and checks that every set bit's page lies inside the file. */
  static async open(src: RandomAccessSource, block: ParsedRamBlock): Promise<MappedRamPages> {
    const mr = block.mappedRam;
    if (!mr) throw new RangeError(`block "${block.idstr}" is not a mapped-ram block`);
    const bitmap = await readBlockBitmap(src, block);
    checkRunsInFile(src, block, bitmap);
    return new MappedRamPages(src, mr.pagesOffset, bitmap, block.idstr);
  }

  present(page: number): boolean {
    return this.bitmap.get(page);
  }

  noneIn(first: number, end: number): boolean {
    const bytes = this.bitmap.bytes;
    let p = first;
    while (p < end) {
      if ((p & 7) === 0 && p + 8 <= end) {
        if (bytes[p >>> 3] !== 0) return false;
        p += 8;
        continue;
      }
      if (this.bitmap.get(p)) return false;
      p++;
    }
    return true;
  }

  /** the runs of set bits of one read (bitmap.setRunsIn), grown to the largest read */
  private runs = new Int32Array(0);

  /**
   * Reads only the runs of set bits, each with one read, and zero-fills the pages between them: a
   * clear-bit page reads as zeros whatever the page array holds, and reading the array's holes would
   * have the kernel allocate and zero page cache for them (a 95 %-zero file is mostly holes).
   * checkRunsInFile made sure every run lies inside the file.
   */
  async read(first: number, count: number, into: Uint8Array): Promise<void> {
    if (this.runs.length < count + 1) this.runs = new Int32Array(count + 1);
    const n = this.bitmap.setRunsIn(first, first + count, this.runs);
    let cursor = 0; // bytes of `into` filled so far
    for (let r = 0; r < n; r++) {
      const from = ((this.runs[2 * r] as number) - first) * PAGE_SIZE;
      const to = ((this.runs[2 * r + 1] as number) - first) * PAGE_SIZE;
      into.fill(0, cursor, from);
      const got = await this.src.readInto(
        this.pagesOffset + BigInt(first) * TARGET_PAGE_SIZE_N + BigInt(from),
        into.subarray(from, to),
      );
      into.fill(0, from + got, to);
      cursor = to;
    }
    into.fill(0, cursor, count * PAGE_SIZE);
  }
}

/** Page records of an ordinary stream, kept in memory (last record of a page wins). */
export class InlinePages implements BlockPages {
  /** page → data (a PAGE record) or fill byte (a ZERO record) */
  readonly pages = new Map<number, Uint8Array | number>();
  readonly numPages: number;
  constructor(
    readonly idstr: string,
    usedLength: bigint,
  ) {
    this.numPages = toSafeNumber(usedLength / TARGET_PAGE_SIZE_N, "page count");
  }

  present(page: number): boolean {
    return this.pages.get(page) instanceof Uint8Array;
  }

  noneIn(first: number, end: number): boolean {
    for (let p = first; p < end; p++) {
      const v = this.pages.get(p);
      if (v instanceof Uint8Array || (v !== undefined && v !== 0)) return false;
    }
    return true;
  }

  async read(first: number, count: number, into: Uint8Array): Promise<void> {
    for (let i = 0; i < count; i++) {
      const v = this.pages.get(first + i);
      const at = i * PAGE_SIZE;
      if (v instanceof Uint8Array) into.set(v, at);
      else into.fill(v ?? 0, at, at + PAGE_SIZE);
    }
  }
}

/** Largest amount of page data kept in memory for one ordinary (non-mapped-ram) stream. */
export const MAX_INLINE_BYTES = 512 * 1024 * 1024;

/** Collects page records of an ordinary stream through the reader's `onInlinePage` visitor. */
export class InlineCollector {
  readonly blocks = new Map<string, InlinePages>();
  private bytes = 0;
  constructor(private readonly limit = MAX_INLINE_BYTES) {}

  visit = (p: {
    block: ParsedRamBlock;
    address: bigint;
    data?: Uint8Array;
    zeroFill?: number;
    offset: bigint;
  }): void => {
    let pages = this.blocks.get(p.block.idstr);
    if (!pages) {
      pages = new InlinePages(p.block.idstr, p.block.usedLength);
      this.blocks.set(p.block.idstr, pages);
    }
    const page = toSafeNumber(p.address / TARGET_PAGE_SIZE_N, "page index");
    if (p.data) {
      if (!(pages.pages.get(page) instanceof Uint8Array)) this.bytes += PAGE_SIZE;
      if (this.bytes > this.limit) {
        throw new MappedRamError("ERR_TOO_LARGE", {
          subject: "ordinary migration stream",
          offset: p.offset,
          rule: `carries more than ${this.limit} bytes of page data; diff keeps it in memory`,
        });
      }
      pages.pages.set(page, p.data.slice());
    } else {
      if (pages.pages.get(page) instanceof Uint8Array) this.bytes -= PAGE_SIZE;
      pages.pages.set(page, p.zeroFill ?? 0);
    }
  };

  /** The pages of `block`; a block without page records is all zeros. */
  pagesOf(block: ParsedRamBlock): InlinePages {
    return this.blocks.get(block.idstr) ?? new InlinePages(block.idstr, block.usedLength);
  }
}

/** Index of the first differing byte of two equally long arrays, or -1 when equal. */
export function firstDifferingByte(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) {
    return -1;
  }
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Accumulates increasing page indexes into inclusive ranges, keeping at most `limit` of them. */
export class RangeBuilder<T extends PageRange = PageRange> {
  readonly ranges: T[] = [];
  total = 0;
  pages = 0;
  private current: T | undefined;
  constructor(private readonly limit: number) {}

  /** Adds `page`; `make` builds a new range's extra fields when the page starts one. */
  add(page: number, make: (page: number) => T): void {
    this.pages++;
    const c = this.current;
    if (c && c.last === page - 1) {
      c.last = page;
      c.count++;
      return;
    }
    this.total++;
    const r = make(page);
    this.current = r;
    if (this.ranges.length < this.limit) this.ranges.push(r);
  }

  get truncated(): boolean {
    return this.total > this.ranges.length;
  }
}
