// A semantic diff of two migration streams: what a loader would see (configuration, RAM blocks and
// their page contents, device sections, commands, vmdesc), never where it sits in the file.
import { Buffer } from "node:buffer";
import { decodeKnownDevice } from "../impl/devices.js";
import {
  FileSource,
  hex,
  type ParsedRamBlock,
  type ParsedStream,
  parseStream,
  type RandomAccessSource,
  type StreamRecord,
  toSafeNumber,
} from "../impl/index.js";
import {
  type BlockPages,
  firstDifferingByte,
  InlineCollector,
  MappedRamPages,
  PAGE_SIZE,
  RangeBuilder,
} from "./pages.js";
import type {
  BlockDiff,
  CommandInfo,
  ContentRange,
  DeviceDiff,
  DeviceRef,
  DiffReport,
  DiffSide,
  FieldChange,
  PageRange,
  VmdescChange,
} from "./types.js";

export interface DiffInput {
  source: RandomAccessSource;
  /** name shown in the report (a path) */
  name: string;
  /** the `file:` offset where the stream starts (default 0) */
  offset?: bigint;
}

export interface DiffOptions {
  /** most page ranges kept per block and per list (default 100); counts are always complete */
  maxRanges?: number;
  /** most vmdesc changes kept (default 50) */
  maxVmdescChanges?: number;
  /** bytes of page contents compared so far, of the total to compare */
  onProgress?: (done: bigint, total: bigint) => void;
}

/** Pages compared per read: 1 MiB, QEMU's MAPPED_RAM_LOAD_BUF_SIZE. */
const CHUNK_PAGES = 256;

interface Side {
  input: DiffInput;
  stream: ParsedStream;
  inline: InlineCollector | undefined;
}

async function load(input: DiffInput): Promise<Side> {
  // Page records of an ordinary stream are kept; a mapped-ram stream has none (its pages are read
  // from the page array on demand).
  const inline = new InlineCollector();
  const stream = await parseStream(input.source, {
    ...(input.offset === undefined ? {} : { offset: input.offset }),
    onInlinePage: inline.visit,
  });
  return { input, stream, inline: stream.mappedRam ? undefined : inline };
}

function sideInfo(s: Side): DiffSide {
  return {
    file: s.input.name,
    offset: hex(s.stream.offset),
    fileSize: hex(s.stream.fileSize),
    end: hex(s.stream.end),
    mappedRam: s.stream.mappedRam,
  };
}

function change(field: string, a: FieldChange["a"], b: FieldChange["b"]): FieldChange {
  return { field, a, b };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function compareConfiguration(a: ParsedStream, b: ParsedStream): FieldChange[] {
  const out: FieldChange[] = [];
  const ca = a.configuration;
  const cb = b.configuration;
  if (!ca || !cb) {
    if (ca || cb) out.push(change("present", ca !== undefined, cb !== undefined));
  }
  if ((ca?.machineName ?? null) !== (cb?.machineName ?? null)) {
    out.push(change("machine", ca?.machineName ?? null, cb?.machineName ?? null));
  }
  const capsA = ca?.capabilities ?? [];
  const capsB = cb?.capabilities ?? [];
  if (!sameList(capsA, capsB)) out.push(change("capabilities", capsA, capsB));
  if ((ca?.targetPageBits ?? null) !== (cb?.targetPageBits ?? null)) {
    out.push(change("targetPageBits", ca?.targetPageBits ?? null, cb?.targetPageBits ?? null));
  }
  const uuid = (u: Uint8Array | undefined) => (u ? Buffer.from(u).toString("hex") : null);
  if (uuid(ca?.uuid) !== uuid(cb?.uuid)) out.push(change("uuid", uuid(ca?.uuid), uuid(cb?.uuid)));
  return out;
}

function ramStart(s: ParsedStream) {
  return s.records.find(
    (r): r is Extract<StreamRecord, { kind: "section" }> =>
      r.kind === "section" && (r.type === "start" || r.type === "full") && r.ram !== undefined,
  );
}

function compareRamSection(a: ParsedStream, b: ParsedStream): FieldChange[] {
  const ra = ramStart(a)?.section;
  const rb = ramStart(b)?.section;
  const out: FieldChange[] = [];
  for (const f of ["sectionId", "instanceId", "versionId"] as const) {
    if ((ra?.[f] ?? null) !== (rb?.[f] ?? null)) out.push(change(f, ra?.[f] ?? null, rb?.[f] ?? null));
  }
  return out;
}

function blockChanges(a: ParsedRamBlock, b: ParsedRamBlock): FieldChange[] {
  const out: FieldChange[] = [];
  if (a.usedLength !== b.usedLength) out.push(change("usedLength", hex(a.usedLength), hex(b.usedLength)));
  const addr = (v: bigint | undefined) => (v === undefined ? null : hex(v));
  if (a.mrAddr !== b.mrAddr) out.push(change("mrAddr", addr(a.mrAddr), addr(b.mrAddr)));
  const ha = a.mappedRam?.header;
  const hb = b.mappedRam?.header;
  if ((ha?.version ?? null) !== (hb?.version ?? null)) {
    out.push(change("headerVersion", ha?.version ?? null, hb?.version ?? null));
  }
  const ps = (v: bigint | undefined) => (v === undefined ? null : hex(v));
  if (ha?.pageSize !== hb?.pageSize) out.push(change("pageSize", ps(ha?.pageSize), ps(hb?.pageSize)));
  return out;
}

function pagesOf(s: Side, block: ParsedRamBlock): Promise<BlockPages> | BlockPages {
  if (block.mappedRam) return MappedRamPages.open(s.input.source, block);
  return (s.inline ?? new InlineCollector()).pagesOf(block);
}

interface PageWork {
  done: bigint;
  total: bigint;
  onProgress: ((done: bigint, total: bigint) => void) | undefined;
}

async function compareBlock(
  name: string,
  pa: BlockPages,
  pb: BlockPages,
  changes: FieldChange[],
  limit: number,
  work: PageWork,
): Promise<BlockDiff> {
  const n = Math.min(pa.numPages, pb.numPages);
  const content = new RangeBuilder<ContentRange>(limit);
  const onlyA = new RangeBuilder(limit);
  const onlyB = new RangeBuilder(limit);
  const bufA = new Uint8Array(CHUNK_PAGES * PAGE_SIZE);
  const bufB = new Uint8Array(CHUNK_PAGES * PAGE_SIZE);
  const plain = (p: number): PageRange => ({ first: p, last: p, count: 1 });
  let presentA = 0;
  let presentB = 0;
  for (let first = 0; first < n; first += CHUNK_PAGES) {
    const count = Math.min(CHUNK_PAGES, n - first);
    const emptyA = pa.noneIn(first, first + count);
    const emptyB = pb.noneIn(first, first + count);
    for (let p = first; p < first + count; p++) {
      const inA = !emptyA && pa.present(p);
      const inB = !emptyB && pb.present(p);
      if (inA) presentA++;
      if (inB) presentB++;
      if (inA && !inB) onlyA.add(p, plain);
      else if (inB && !inA) onlyB.add(p, plain);
    }
    work.done += BigInt(count * PAGE_SIZE);
    if (emptyA && emptyB) {
      work.onProgress?.(work.done, work.total);
      continue;
    }
    const len = count * PAGE_SIZE;
    if (emptyA) bufA.fill(0, 0, len);
    else await pa.read(first, count, bufA);
    if (emptyB) bufB.fill(0, 0, len);
    else await pb.read(first, count, bufB);
    if (firstDifferingByte(bufA.subarray(0, len), bufB.subarray(0, len)) >= 0) {
      for (let i = 0; i < count; i++) {
        const at = firstDifferingByte(
          bufA.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE),
          bufB.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE),
        );
        if (at < 0) continue;
        const page = first + i;
        content.add(page, () => ({
          first: page,
          last: page,
          count: 1,
          firstDifference: {
            page,
            offset: hex(BigInt(page) * BigInt(PAGE_SIZE) + BigInt(at)),
            a: hex(bufA[i * PAGE_SIZE + at] as number),
            b: hex(bufB[i * PAGE_SIZE + at] as number),
          },
        }));
      }
    }
    work.onProgress?.(work.done, work.total);
  }
  const pages: BlockDiff["pages"] = {
    compared: n,
    differing: content.pages,
    ranges: content.ranges,
    truncated: content.truncated,
  };
  const extra = await pagesPast(pa.numPages > n ? pa : pb, n);
  if (pa.numPages > n) pages.onlyA = extra;
  if (pb.numPages > n) pages.onlyB = extra;
  const differs =
    changes.length > 0 ||
    content.pages > 0 ||
    onlyA.pages > 0 ||
    onlyB.pages > 0 ||
    pa.numPages !== pb.numPages;
  return {
    idstr: name,
    equal: !differs,
    changes,
    pages,
    bitmap: {
      presentA,
      presentB,
      differing: onlyA.pages + onlyB.pages,
      onlyA: onlyA.ranges,
      onlyB: onlyB.ranges,
      truncated: onlyA.truncated || onlyB.truncated,
    },
  };
}

/** Pages [from, numPages) of the longer block, and how many of them are not all zeros. */
async function pagesPast(p: BlockPages, from: number): Promise<PageRange & { nonZero: number }> {
  const buf = new Uint8Array(CHUNK_PAGES * PAGE_SIZE);
  let nonZero = 0;
  for (let first = from; first < p.numPages; first += CHUNK_PAGES) {
    const count = Math.min(CHUNK_PAGES, p.numPages - first);
    if (p.noneIn(first, first + count)) continue;
    await p.read(first, count, buf);
    for (let i = 0; i < count; i++) {
      if (buf.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE).some((v) => v !== 0)) nonZero++;
    }
  }
  return { first: from, last: p.numPages - 1, count: p.numPages - from, nonZero };
}

interface DeviceRecord {
  ref: DeviceRef;
  versionId: number;
  sectionId: number;
  payload: Uint8Array;
}

async function devicesOf(s: Side): Promise<DeviceRecord[]> {
  const out: DeviceRecord[] = [];
  for (const r of s.stream.records) {
    if (r.kind !== "section" || r.type !== "full" || r.ram !== undefined) continue;
    const len = Number(r.payloadEnd - r.payloadOffset);
    out.push({
      ref: { idstr: r.section.idstr, instanceId: r.section.instanceId },
      versionId: r.section.versionId,
      sectionId: r.section.sectionId,
      payload: await s.input.source.read(r.payloadOffset, len, `device section "${r.section.idstr}"`),
    });
  }
  return out;
}

const refKey = (r: DeviceRef) => `${r.idstr}\u0000${r.instanceId}`;

function compareDevice(a: DeviceRecord, b: DeviceRecord): DeviceDiff | undefined {
  const changes: FieldChange[] = [];
  if (a.versionId !== b.versionId) changes.push(change("versionId", a.versionId, b.versionId));
  if (a.sectionId !== b.sectionId) changes.push(change("sectionId", a.sectionId, b.sectionId));
  if (a.payload.length !== b.payload.length) {
    changes.push(change("payloadLength", a.payload.length, b.payload.length));
  }
  const n = Math.min(a.payload.length, b.payload.length);
  let at = firstDifferingByte(a.payload.subarray(0, n), b.payload.subarray(0, n));
  if (at < 0 && a.payload.length !== b.payload.length) at = n;
  const fields: FieldChange[] = [];
  const fa = decodeKnownDevice({ ...a.ref, sectionId: a.sectionId, versionId: a.versionId }, a.payload);
  const fb = decodeKnownDevice({ ...b.ref, sectionId: b.sectionId, versionId: b.versionId }, b.payload);
  if (fa && fb) {
    for (const k of new Set([...Object.keys(fa), ...Object.keys(fb)])) {
      if (fa[k] !== fb[k]) fields.push(change(k, fa[k] ?? null, fb[k] ?? null));
    }
  }
  if (changes.length === 0 && at < 0) return undefined;
  const byte = (p: Uint8Array, i: number) => (i < p.length ? hex(p[i] as number) : null);
  return {
    ...a.ref,
    changes,
    ...(at >= 0
      ? { firstDifference: { offset: hex(at), a: byte(a.payload, at), b: byte(b.payload, at) } }
      : {}),
    fields,
  };
}

function commandsOf(s: ParsedStream): CommandInfo[] {
  return s.records
    .filter((r): r is Extract<StreamRecord, { kind: "command" }> => r.kind === "command")
    .map((r) => ({ command: hex(r.command), data: Buffer.from(r.data).toString("hex") }));
}

/** Paths where two JSON values differ, depth first, at most `limit` (plus whether more exist). */
export function jsonChanges(
  a: unknown,
  b: unknown,
  limit: number,
): { changes: VmdescChange[]; truncated: boolean } {
  const changes: VmdescChange[] = [];
  let truncated = false;
  const show = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
  const walk = (x: unknown, y: unknown, path: string) => {
    if (truncated) return;
    const objX = typeof x === "object" && x !== null;
    const objY = typeof y === "object" && y !== null;
    if (objX && objY && Array.isArray(x) === Array.isArray(y)) {
      if (Array.isArray(x) && Array.isArray(y)) {
        for (let i = 0; i < Math.max(x.length, y.length); i++) walk(x[i], y[i], `${path}[${i}]`);
      } else {
        const ox = x as Record<string, unknown>;
        const oy = y as Record<string, unknown>;
        for (const k of new Set([...Object.keys(ox), ...Object.keys(oy)])) {
          walk(ox[k], oy[k], path === "" ? k : `${path}.${k}`);
        }
      }
      return;
    }
    if (show(x) === show(y)) return;
    if (changes.length >= limit) {
      truncated = true;
      return;
    }
    changes.push({ path: path === "" ? "(root)" : path, a: show(x), b: show(y) });
  };
  walk(a, b, "");
  return { changes, truncated };
}

function partCount(s: ParsedStream): number {
  return s.records.filter((r) => r.kind === "section" && r.type === "part").length;
}

/** Compares two migration streams by meaning. Sources stay open; the caller closes them. */
export async function diffStreams(ia: DiffInput, ib: DiffInput, opts: DiffOptions = {}): Promise<DiffReport> {
  const limit = opts.maxRanges ?? 100;
  const a = await load(ia);
  const b = await load(ib);
  const sa = a.stream;
  const sb = b.stream;

  const stream: FieldChange[] = [];
  if (sa.version !== sb.version) stream.push(change("version", sa.version, sb.version));
  if (sa.mappedRam !== sb.mappedRam) stream.push(change("mappedRam", sa.mappedRam, sb.mappedRam));
  const configuration = compareConfiguration(sa, sb);
  const ramSection = compareRamSection(sa, sb);

  // RAM blocks, by idstr
  const namesA = sa.ramBlocks.map((x) => x.idstr);
  const namesB = sb.ramBlocks.map((x) => x.idstr);
  const common = namesA.filter((n) => namesB.includes(n));
  const commonInB = namesB.filter((n) => namesA.includes(n));
  const work: PageWork = { done: 0n, total: 0n, onProgress: opts.onProgress };
  const pairs: Array<[ParsedRamBlock, ParsedRamBlock]> = common.map((n) => [
    sa.ramBlocks.find((x) => x.idstr === n) as ParsedRamBlock,
    sb.ramBlocks.find((x) => x.idstr === n) as ParsedRamBlock,
  ]);
  for (const [x, y] of pairs) {
    const pages = Math.min(toSafeNumber(x.numPages, "page count"), toSafeNumber(y.numPages, "page count"));
    work.total += BigInt(pages * PAGE_SIZE);
  }
  const compared: BlockDiff[] = [];
  for (const [x, y] of pairs) {
    compared.push(
      await compareBlock(x.idstr, await pagesOf(a, x), await pagesOf(b, y), blockChanges(x, y), limit, work),
    );
  }
  const blocks: DiffReport["blocks"] = {
    equal: false,
    a: namesA,
    b: namesB,
    onlyA: namesA.filter((n) => !namesB.includes(n)),
    onlyB: namesB.filter((n) => !namesA.includes(n)),
    orderDiffers: !sameList(common, commonInB),
    compared,
  };
  blocks.equal =
    blocks.onlyA.length === 0 &&
    blocks.onlyB.length === 0 &&
    !blocks.orderDiffers &&
    compared.every((c) => c.equal);

  // Device sections, by idstr and instance
  const da = await devicesOf(a);
  const db = await devicesOf(b);
  const keysB = new Map(db.map((d) => [refKey(d.ref), d]));
  const keysA = new Map(da.map((d) => [refKey(d.ref), d]));
  const changed: DeviceDiff[] = [];
  for (const d of da) {
    const other = keysB.get(refKey(d.ref));
    const c = other && compareDevice(d, other);
    if (c) changed.push(c);
  }
  const devicesCommonA = da.filter((d) => keysB.has(refKey(d.ref))).map((d) => refKey(d.ref));
  const devicesCommonB = db.filter((d) => keysA.has(refKey(d.ref))).map((d) => refKey(d.ref));
  const devices: DiffReport["devices"] = {
    equal: false,
    a: da.map((d) => d.ref),
    b: db.map((d) => d.ref),
    onlyA: da.filter((d) => !keysB.has(refKey(d.ref))).map((d) => d.ref),
    onlyB: db.filter((d) => !keysA.has(refKey(d.ref))).map((d) => d.ref),
    orderDiffers: !sameList(devicesCommonA, devicesCommonB),
    changed,
  };
  devices.equal =
    devices.onlyA.length === 0 && devices.onlyB.length === 0 && !devices.orderDiffers && changed.length === 0;

  const ca = commandsOf(sa);
  const cb = commandsOf(sb);
  const commands = {
    equal:
      ca.length === cb.length && ca.every((c, i) => c.command === cb[i]?.command && c.data === cb[i]?.data),
    a: ca,
    b: cb,
  };

  const va = sa.vmdesc;
  const vb = sb.vmdesc;
  const vj =
    va && vb
      ? jsonChanges(va.value, vb.value, opts.maxVmdescChanges ?? 50)
      : { changes: [] as VmdescChange[], truncated: false };
  const vmdesc: DiffReport["vmdesc"] = {
    equal: (va === undefined) === (vb === undefined) && vj.changes.length === 0,
    a: va ? { length: va.length } : null,
    b: vb ? { length: vb.length } : null,
    changes: vj.changes,
    truncated: vj.truncated,
  };

  const notes: string[] = [];
  const pa = partCount(sa);
  const pb = partCount(sb);
  if (pa !== pb) {
    notes.push(`empty RAM SECTION_PART records: a has ${pa}, b has ${pb} (timing, not compared)`);
  }
  if (sa.offset !== sb.offset)
    notes.push(`streams start at different offsets: a ${hex(sa.offset)}, b ${hex(sb.offset)}`);

  const equal =
    stream.length === 0 &&
    configuration.length === 0 &&
    ramSection.length === 0 &&
    blocks.equal &&
    devices.equal &&
    commands.equal &&
    vmdesc.equal;
  return {
    a: sideInfo(a),
    b: sideInfo(b),
    equal,
    stream,
    configuration: { equal: configuration.length === 0, changes: configuration },
    ramSection,
    blocks,
    devices,
    commands,
    vmdesc,
    notes,
  };
}

export interface DiffFileInput {
  path: string;
  offset?: bigint;
}

/** Opens both files, compares them (`diffStreams`), closes them. */
export async function diffFiles(
  a: DiffFileInput,
  b: DiffFileInput,
  opts: DiffOptions = {},
): Promise<DiffReport> {
  const sa = await FileSource.open(a.path);
  try {
    const sb = await FileSource.open(b.path);
    try {
      return await diffStreams(
        { source: sa, name: a.path, ...(a.offset === undefined ? {} : { offset: a.offset }) },
        { source: sb, name: b.path, ...(b.offset === undefined ? {} : { offset: b.offset }) },
        opts,
      );
    } finally {
      await sb.close();
    }
  } finally {
    await sa.close();
  }
}
