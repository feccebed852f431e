// The state of one checkFile run: options, findings, the blocks seen and the regions the file uses.
import type { ZeroPageDetection } from "./bitmap.js";
import { hex } from "./bytes.js";
import { type Finding, type FindingDetail, type FindingId, makeFinding } from "./findings.js";
import type { ByteSource } from "./source.js";
import type { Vmdesc } from "./vmdesc.js";

/** A broken file can repeat one mistake many times; we keep this many findings per id. */
const MAX_PER_ID = 100;

export interface RamImage {
  readonly idstr: string;
  /** the block's RAM as the VM had it when it was saved (`used_length` bytes) */
  readonly image: ByteSource;
}

export interface CheckOptions {
  /** where the stream starts: the `file:` URI's offset=N (default 0) */
  readonly offset?: bigint;
  /** the machine type the file must name (default: any) */
  readonly machine?: string;
  /** `--ram NAME=IMAGE`: the block's bitmap and pages must be what a save of IMAGE gives */
  readonly ram?: readonly RamImage[];
  /**
   * The save's zero-page-detection, for `ram`. Default `any`: a bitmap with every bit set is
   * taken as a `none` save, any other as a `multifd`/`legacy` save.
   */
  readonly zeroPageDetection?: ZeroPageDetection | "any";
  /** read the page array to report stale bytes under clear bits (default true) */
  readonly scanClearPages?: boolean;
  /** called as the page scan advances: the file position reached and the file size */
  readonly onProgress?: (done: bigint, total: bigint) => void;
}

/** A block as the file has it. `bitmapSize`/`numPages` follow QEMU's writer (4096-byte pages). */
export interface ObservedBlock {
  readonly idstr: string;
  readonly usedLength: bigint;
  readonly recordOffset: bigint;
  readonly mrAddrOffset: bigint | undefined;
  readonly headerOffset: bigint;
  readonly version: number;
  readonly pageSize: bigint;
  readonly bitmapOffset: bigint;
  readonly pagesOffset: bigint;
  readonly numPages: bigint;
  readonly bitmapSize: bigint;
  readonly resumeOffset: bigint;
  /** ignored under x-ignore-shared (QEMU 11.0+ format): zero offsets, no bitmap or pages in the file */
  readonly ignored?: true;
}

export interface Region {
  readonly start: bigint;
  readonly end: bigint;
  /** e.g. `bitmap of ramblock "r"` */
  readonly label: string;
}

export type Step = "ok" | "stop";

export interface SectionInfo {
  readonly idstr: string;
  readonly instanceId: number;
}

export class Walk {
  readonly findings: Finding[] = [];
  readonly blocks: ObservedBlock[] = [];
  readonly regions: Region[] = [];
  readonly sections = new Map<number, SectionInfo>();
  capabilities: readonly string[] = [];
  ignoreShared = false;
  ramStarted = false;
  ramEnded = false;
  memSizeCount = 0;
  vmdesc: Vmdesc | undefined;
  /** vmdesc device entries already matched to a section */
  readonly vmdescTaken = new Set<object>();
  private segmentStart: bigint;
  private readonly perId = new Map<FindingId, number>();

  constructor(
    readonly src: ByteSource,
    readonly options: CheckOptions,
    readonly start: bigint,
  ) {
    this.segmentStart = start;
  }

  get size(): bigint {
    return this.src.size;
  }

  /** Records a finding; past MAX_PER_ID findings of one id the rest are counted, not kept. */
  report(id: FindingId, offset: bigint, detail: FindingDetail): void {
    const n = (this.perId.get(id) ?? 0) + 1;
    this.perId.set(id, n);
    if (n < MAX_PER_ID) this.findings.push(makeFinding(id, offset, detail));
    else if (n === MAX_PER_ID) {
      const rule = `${detail.rule} (and further ${id} findings are not listed)`;
      this.findings.push(makeFinding(id, offset, { ...detail, rule }));
    }
  }

  /** The file ends inside a structure of `need` bytes at `offset`. Always stops the walk. */
  truncated(offset: bigint, need: bigint, subject: string, field: string): Step {
    const left = this.size > offset ? this.size - offset : 0n;
    this.report("stream.truncated", offset, {
      subject,
      field,
      rule: `needs ${need} bytes at ${hex(offset)} but the file has ${left} left`,
      expected: `${need} bytes`,
      actual: `${left} bytes`,
    });
    return "stop";
  }

  /** The main stream jumps from `from` to `to` (after a block's header): close its segment. */
  jump(from: bigint, to: bigint): void {
    this.streamRegion(from);
    this.segmentStart = to;
  }

  /** Close the main stream's last segment at `end`. */
  streamRegion(end: bigint): void {
    if (end > this.segmentStart) {
      this.regions.push({ start: this.segmentStart, end, label: "the main stream" });
    }
  }
}
