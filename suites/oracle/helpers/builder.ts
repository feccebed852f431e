// A tiny mapped-ram file builder for the oracle's hand-made cases, written from the spec
// (/work/shared/spec/mapped-ram-format.md sections 1-3) and independent of src/oracle and src/impl.
// It returns the file and the offsets where it put everything, so corrupt cases can patch them.
import { SparseFile } from "./sparse.js";

const PAGE = 4096;
const MIB = 0x100000n;

export interface BuildBlock {
  readonly idstr: string;
  readonly pages: number;
  /** the block's RAM (`pages * 4096` bytes); all zero when absent */
  readonly image?: Uint8Array;
  /** put the page array here instead of the first 1 MiB boundary after the bitmap */
  readonly pagesAt?: bigint;
}

export interface BuildSpec {
  readonly blocks: readonly BuildBlock[];
  /** the `file:` offset=N (default 0); bytes before it are filled with `prefixByte` */
  readonly offset?: bigint;
  readonly prefixByte?: number;
  readonly machine?: string;
  /** listed in configuration/capabilities (default ["mapped-ram"]) */
  readonly capabilities?: readonly string[];
  /** SECTION_PART records after the setup (default 1) */
  readonly parts?: number;
  /** the SWITCHOVER_START command (default true) */
  readonly switchover?: boolean;
  /** "none": every page written, every bit set (default "multifd") */
  readonly zeroPageDetection?: "none" | "multifd";
  /** the timer and globalstate sections (default true) */
  readonly devices?: boolean;
  /** vmdesc after EOF (default true) */
  readonly vmdesc?: boolean;
  /** configuration subsections written before configuration/capabilities */
  readonly subsectionsBefore?: ReadonlyArray<{ name: string; version?: number; payload: readonly number[] }>;
  /** be64 mr->addr before each header (default: iff x-ignore-shared is listed) */
  readonly mrAddr?: boolean;
  /** the ram section at all (default true) */
  readonly ram?: boolean;
  /** the MEM_SIZE record and the blocks in the START section (default true) */
  readonly memSize?: boolean;
  /** the ram SECTION_END (default true) */
  readonly end?: boolean;
}

export interface BuiltBlock {
  readonly idstr: string;
  readonly usedLength: bigint;
  readonly record: bigint;
  readonly usedLengthAt: bigint;
  readonly mrAddr: bigint | undefined;
  readonly header: bigint;
  readonly bitmap: bigint;
  readonly bitmapSize: bigint;
  readonly pages: bigint;
  readonly resume: bigint;
}

export interface Built {
  readonly file: SparseFile;
  readonly start: bigint;
  readonly config: bigint;
  readonly capsSubsection: bigint | undefined;
  readonly ramSection: bigint;
  readonly memSize: bigint;
  readonly blocks: readonly BuiltBlock[];
  readonly setupEos: bigint;
  readonly parts: readonly bigint[];
  readonly switchover: bigint | undefined;
  readonly end: bigint;
  readonly timer: bigint | undefined;
  readonly globalstate: bigint | undefined;
  readonly eof: bigint;
  readonly vmdesc: bigint | undefined;
  readonly jsonLength: number;
}

/** Big-endian stream assembly at a movable position. */
class Out {
  pos: bigint;
  constructor(
    readonly file: SparseFile,
    start: bigint,
  ) {
    this.pos = start;
  }
  bytes(b: Uint8Array | readonly number[]): this {
    this.file.write(this.pos, Uint8Array.from(b));
    this.pos += BigInt(b.length);
    return this;
  }
  u8(v: number): this {
    return this.bytes([v & 0xff]);
  }
  u16(v: number): this {
    return this.bytes([(v >>> 8) & 0xff, v & 0xff]);
  }
  u32(v: number): this {
    return this.bytes([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
  }
  u64(v: bigint): this {
    const b: number[] = [];
    for (let s = 56n; s >= 0n; s -= 8n) b.push(Number((v >> s) & 0xffn));
    return this.bytes(b);
  }
  str(s: string): this {
    return this.bytes([...s].map((c) => c.charCodeAt(0)));
  }
  counted(s: string): this {
    return this.u8(s.length).str(s);
  }
}

export function be64(v: bigint): number[] {
  const b: number[] = [];
  for (let s = 56n; s >= 0n; s -= 8n) b.push(Number((v >> s) & 0xffn));
  return b;
}

export function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

function pageIsZero(img: Uint8Array, i: number): boolean {
  for (let k = i * PAGE; k < (i + 1) * PAGE; k++) if (img[k] !== 0) return false;
  return true;
}

/** vmdesc JSON as QEMU 10.0.2 writes it for `-M none` (compact JSONWriter: ", " and ": "). */
export function vmdescJson(machine: string, caps: readonly string[], devices: boolean): string {
  const capsField =
    caps.length > 1
      ? `{"name": "capabilities", "array_len": ${caps.length}, "type": "capability", "size": ${1 + (caps[0] ?? "").length}}`
      : `{"name": "capabilities", "type": "capability", "size": ${1 + (caps[0] ?? "").length}}`;
  const subsections =
    caps.length > 0
      ? `, "subsections": [{"vmsd_name": "configuration/capabilities", "version": 1, "fields": [{"name": "caps_count", "type": "uint32", "size": 4}, ${capsField}]}]`
      : "";
  const config = `{"vmsd_name": "configuration", "version": 1, "fields": [{"name": "len", "type": "uint32", "size": 4}, {"name": "name", "type": "buffer", "size": ${machine.length}}]${subsections}}`;
  const timer =
    '{"name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2, "fields": [{"name": "cpu_ticks_offset", "type": "int64", "size": 8}, {"name": "unused", "type": "unused_buffer", "size": 8}, {"name": "cpu_clock_offset", "type": "int64", "size": 8}]}';
  const globalstate =
    '{"name": "globalstate", "instance_id": 0, "vmsd_name": "globalstate", "version": 1, "fields": [{"name": "size", "type": "uint32", "size": 4}, {"name": "runstate", "type": "buffer", "size": 32}, {"name": "has_vm_was_suspended", "type": "uint8", "size": 1}, {"name": "vm_was_suspended", "type": "uint8", "size": 1}, {"name": "unused", "type": "buffer", "size": 66}]}';
  return `{"configuration": ${config}, "page_size": 4096, "devices": [${devices ? `${timer}, ${globalstate}` : ""}]}`;
}

/** Build a mapped-ram file of a stopped `-M none` VM as QEMU 10.0.2 would write it. */
export function buildFile(spec: BuildSpec): Built {
  const file = new SparseFile();
  const start = spec.offset ?? 0n;
  if (start > 0n) file.write(0n, new Uint8Array(Number(start)).fill(spec.prefixByte ?? 0x58));
  const machine = spec.machine ?? "none";
  const caps = spec.capabilities ?? ["mapped-ram"];
  const o = new Out(file, start);
  o.u32(0x5145564d).u32(3);
  const config = o.pos;
  o.u8(0x07).u32(machine.length).str(machine);
  for (const sub of spec.subsectionsBefore ?? []) {
    o.u8(0x05)
      .counted(sub.name)
      .u32(sub.version ?? 1)
      .bytes(sub.payload);
  }
  let capsSubsection: bigint | undefined;
  if (caps.length > 0) {
    capsSubsection = o.pos;
    o.u8(0x05).counted("configuration/capabilities").u32(1).u32(caps.length);
    for (const c of caps) o.counted(c);
  }
  const withRam = spec.ram ?? true;
  const ramSection = o.pos;
  if (withRam) o.u8(0x01).u32(1).counted("ram").u32(0).u32(4);
  const memSize = o.pos;
  const total = spec.blocks.reduce((s, b) => s + BigInt(b.pages * PAGE), 0n);
  const withBlocks = withRam && (spec.memSize ?? true);
  if (withBlocks) o.u64(total | 0x04n);
  const blocks: BuiltBlock[] = [];
  const bitmaps: Array<{ at: bigint; bytes: Uint8Array }> = [];
  for (const b of withBlocks ? spec.blocks : []) {
    const usedLength = BigInt(b.pages * PAGE);
    const record = o.pos;
    o.counted(b.idstr);
    const usedLengthAt = o.pos;
    o.u64(usedLength);
    let mrAddr: bigint | undefined;
    if (spec.mrAddr ?? caps.includes("x-ignore-shared")) {
      mrAddr = o.pos;
      o.u64(0n);
    }
    const header = o.pos;
    const bitmap = header + 28n;
    const bitmapSize = BigInt(Math.ceil(b.pages / 64) * 8);
    const pages = b.pagesAt ?? ((bitmap + bitmapSize + MIB - 1n) / MIB) * MIB;
    o.u32(1).u64(4096n).u64(bitmap).u64(pages);
    const bits = new Uint8Array(Number(bitmapSize));
    const img = b.image ?? new Uint8Array(b.pages * PAGE);
    for (let i = 0; i < b.pages; i++) {
      const zero = pageIsZero(img, i);
      if (zero && spec.zeroPageDetection !== "none") continue;
      bits[i >> 3] = (bits[i >> 3] ?? 0) | (1 << (i & 7));
      if (!zero) file.write(pages + BigInt(i * PAGE), img.subarray(i * PAGE, (i + 1) * PAGE));
    }
    bitmaps.push({ at: bitmap, bytes: bits });
    const resume = pages + usedLength;
    if (resume > file.size) file.truncate(resume); // zero pages at the end stay holes
    blocks.push({
      idstr: b.idstr,
      usedLength,
      record,
      usedLengthAt,
      mrAddr,
      header,
      bitmap,
      bitmapSize,
      pages,
      resume,
    });
    o.pos = resume;
  }
  const setupEos = o.pos;
  if (withRam) o.u64(0x10n).u8(0x7e).u32(1);
  const parts: bigint[] = [];
  for (let i = 0; i < (withRam ? (spec.parts ?? 1) : 0); i++) {
    parts.push(o.pos);
    o.u8(0x02).u32(1).u64(0x10n).u8(0x7e).u32(1);
  }
  let switchover: bigint | undefined;
  if (spec.switchover ?? true) {
    switchover = o.pos;
    o.u8(0x08).u16(0x0b).u16(0);
  }
  const end = o.pos;
  if (withRam && (spec.end ?? true)) o.u8(0x03).u32(1).u64(0x10n).u8(0x7e).u32(1);
  // the bitmaps are written at END time, after every page
  for (const b of bitmaps) file.write(b.at, b.bytes);
  let timer: bigint | undefined;
  let globalstate: bigint | undefined;
  if (spec.devices ?? true) {
    timer = o.pos;
    o.u8(0x04).u32(0).counted("timer").u32(0).u32(2).bytes(new Uint8Array(24)).u8(0x7e).u32(0);
    globalstate = o.pos;
    const gs = new Uint8Array(104);
    gs.set(be32("prelaunch".length + 1), 0);
    gs.set(
      [..."prelaunch"].map((c) => c.charCodeAt(0)),
      4,
    );
    gs[36] = 1; // has_vm_was_suspended
    o.u8(0x04).u32(3).counted("globalstate").u32(0).u32(1).bytes(gs).u8(0x7e).u32(3);
  }
  const eof = o.pos;
  o.u8(0x00);
  let vmdesc: bigint | undefined;
  let jsonLength = 0;
  if (spec.vmdesc ?? true) {
    const json = vmdescJson(machine, caps, spec.devices ?? true);
    jsonLength = json.length;
    vmdesc = o.pos;
    o.u8(0x06).u32(json.length).str(json);
  }
  file.truncate(o.pos);
  return {
    file,
    start,
    config,
    capsSubsection,
    ramSection,
    memSize,
    blocks,
    setupEos,
    parts,
    switchover,
    end,
    timer,
    globalstate,
    eof,
    vmdesc,
    jsonLength,
  };
}

/** Insert `bytes` at `at`, moving everything after it (only for the small stream tail). */
export function insertAt(file: SparseFile, at: bigint, bytes: readonly number[]): SparseFile {
  const tail = file.bytesAt(at, Number(file.size - at));
  return file
    .clone()
    .write(at, Uint8Array.from(bytes))
    .write(at + BigInt(bytes.length), tail);
}
