// The file map of a migration file: every region from the first byte to the last, in file order —
// the stream head, each RAM block's record, MappedRamHeader, bitmap, alignment padding and page array
// (migration/ram.c: mapped_ram_setup_ramblock), the records after the RAM image, EOF and the vmdesc
// (migration/savevm.c). Offsets are the reader's, so a picture drawn from this is the file's truth.
import { readBlockBitmap } from "../impl/extract.js";
import {
  FileSource,
  type ParsedStream,
  parseStream,
  type RandomAccessSource,
  type StreamRecord,
} from "../impl/index.js";

export type RegionKind =
  | "prefix"
  | "file-header"
  | "configuration"
  | "ram-start"
  | "block-record"
  | "header"
  | "bitmap"
  | "padding"
  | "pages"
  | "ram-setup-end"
  | "ram-part"
  | "ram-end"
  | "command"
  | "device"
  | "section"
  | "eof"
  | "vmdesc"
  | "trailing";

/** Presence of a block's pages, aggregated into at most `MAX_CELLS` cells. */
export interface PagePresence {
  numPages: number;
  present: number;
  pagesPerCell: number;
  /** per cell: pages present in it (0..pagesPerCell; the last cell may hold fewer pages) */
  cells: number[];
}

export interface MapRegion {
  kind: RegionKind;
  /** [start, end) in file bytes */
  start: bigint;
  end: bigint;
  /** short name, e.g. `MappedRamHeader "r"` */
  label: string;
  /** the RAM block this region belongs to */
  block?: string;
  /** one line of facts (counts, ids) */
  detail?: string;
  pages?: PagePresence;
}

export interface FileMap {
  file: string;
  fileSize: bigint;
  streamOffset: bigint;
  end: bigint;
  mappedRam: boolean;
  regions: MapRegion[];
}

/** Most cells in a page-presence grid (64 × 32). */
export const MAX_CELLS = 2048;

async function presence(src: RandomAccessSource, stream: ParsedStream, idstr: string): Promise<PagePresence> {
  const block = stream.ramBlocks.find((b) => b.idstr === idstr);
  if (!block) throw new RangeError(`no block "${idstr}"`);
  const bm = await readBlockBitmap(src, block);
  const n = bm.numPages;
  const perCell = Math.max(1, Math.ceil(n / MAX_CELLS));
  const cells = new Array<number>(Math.ceil(n / perCell)).fill(0);
  let present = 0;
  for (const [first, end] of bm.setRuns()) {
    present += end - first;
    for (let p = first; p < end; p++) {
      const c = Math.floor(p / perCell);
      cells[c] = (cells[c] ?? 0) + 1;
    }
  }
  return { numPages: n, present, pagesPerCell: perCell, cells };
}

function recordLabel(r: StreamRecord): { kind: RegionKind; label: string; detail?: string } {
  if (r.kind === "eof") return { kind: "eof", label: "EOF" };
  if (r.kind === "command") {
    const name = r.command === 0x0b ? "SWITCHOVER_START" : `0x${r.command.toString(16)}`;
    return { kind: "command", label: `COMMAND ${name}`, detail: `${r.data.length} data bytes` };
  }
  const s = r.section;
  const id = `id ${s.sectionId} instance ${s.instanceId} version ${s.versionId}`;
  if (r.ram) {
    const kind: RegionKind = r.type === "part" ? "ram-part" : r.type === "end" ? "ram-end" : "ram-start";
    return { kind, label: `RAM SECTION_${r.type.toUpperCase()}`, detail: `"${s.idstr}" ${id}` };
  }
  const len = Number(r.payloadEnd - r.payloadOffset);
  return {
    kind: r.type === "full" ? "device" : "section",
    label: `SECTION_${r.type.toUpperCase()} "${s.idstr}"`,
    detail: `${id}, ${len} payload bytes`,
  };
}

/** Builds the map of a parsed stream; `src` is read for the bitmaps. */
export async function buildFileMap(
  src: RandomAccessSource,
  stream: ParsedStream,
  file: string,
): Promise<FileMap> {
  const regions: MapRegion[] = [];
  const push = (r: MapRegion) => {
    if (r.end > r.start) regions.push(r);
  };
  if (stream.offset > 0n) {
    push({
      kind: "prefix",
      start: 0n,
      end: stream.offset,
      label: "before the stream",
      detail: "file: offset",
    });
  }
  push({
    kind: "file-header",
    start: stream.offset,
    end: stream.offset + 8n,
    label: "QEVM header",
    detail: `version ${stream.version}`,
  });
  const cfg = stream.configuration;
  if (cfg) {
    push({
      kind: "configuration",
      start: cfg.offset,
      end: cfg.end,
      label: "configuration",
      detail: `machine ${cfg.machineName}, capabilities [${cfg.capabilities.join(", ")}]`,
    });
  }
  const recs = stream.records;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i] as StreamRecord;
    const next = recs[i + 1];
    const end = next ? next.offset : r.offset + 1n;
    const info = recordLabel(r);
    if (r.kind === "section" && r.ram && (r.type === "start" || r.type === "full") && stream.mappedRam) {
      const first = stream.ramBlocks[0];
      push({ ...info, start: r.offset, end: first ? first.recordOffset : end });
      for (let b = 0; b < stream.ramBlocks.length; b++) {
        const blk = stream.ramBlocks[b];
        const mr = blk?.mappedRam;
        if (!blk || !mr) continue;
        const block = blk.idstr;
        push({
          kind: "block-record",
          start: blk.recordOffset,
          end: mr.headerOffset,
          label: `block "${block}"`,
          block,
          detail: `used_length 0x${blk.usedLength.toString(16)}`,
        });
        push({
          kind: "header",
          start: mr.headerOffset,
          end: mr.bitmapOffset,
          label: `MappedRamHeader "${block}"`,
          block,
          detail: `version ${mr.header.version}, page_size 0x${mr.header.pageSize.toString(16)}`,
        });
        const bitmapEnd = mr.bitmapOffset + mr.bitmapSize;
        const pages = await presence(src, stream, block);
        push({
          kind: "bitmap",
          start: mr.bitmapOffset,
          end: bitmapEnd,
          label: `bitmap "${block}"`,
          block,
          detail: `${pages.present} of ${pages.numPages} bits set`,
        });
        push({
          kind: "padding",
          start: bitmapEnd,
          end: mr.pagesOffset,
          label: "alignment padding",
          block,
          detail: "hole up to 1 MiB alignment",
        });
        push({
          kind: "pages",
          start: mr.pagesOffset,
          end: mr.end,
          label: `pages "${block}"`,
          block,
          detail: `${pages.present} present, ${pages.numPages - pages.present} zero`,
          pages,
        });
      }
      const last = stream.ramBlocks.at(-1)?.mappedRam;
      if (last) push({ kind: "ram-setup-end", start: last.end, end, label: "RAM setup EOS + footer" });
      continue;
    }
    // Consecutive empty RAM PARTs (their count is timing, spec 2.8) share one row.
    if (info.kind === "ram-part") {
      let j = i;
      while (recs[j + 1]?.kind === "section" && (recs[j + 1] as { type?: string }).type === "part") j++;
      if (j > i) {
        const after = recs[j + 1];
        push({
          ...info,
          label: `RAM SECTION_PART × ${j - i + 1}`,
          start: r.offset,
          end: after ? after.offset : end,
        });
        i = j;
        continue;
      }
    }
    push({ ...info, start: r.offset, end });
  }
  if (stream.vmdesc) {
    push({
      kind: "vmdesc",
      start: stream.vmdesc.offset,
      end: stream.end,
      label: "vmdesc",
      detail: `${stream.vmdesc.length} bytes of JSON`,
    });
  }
  push({
    kind: "trailing",
    start: stream.end,
    end: stream.fileSize,
    label: "after the stream",
    detail: "not read by QEMU",
  });
  return {
    file,
    fileSize: stream.fileSize,
    streamOffset: stream.offset,
    end: stream.end,
    mappedRam: stream.mappedRam,
    regions,
  };
}

/** Parses `path` (stream at `offset`) and builds its map. */
export async function fileMapOf(path: string, offset?: bigint): Promise<FileMap> {
  const src = await FileSource.open(path);
  try {
    const stream = await parseStream(src, offset === undefined ? {} : { offset });
    return await buildFileMap(src, stream, path);
  } finally {
    await src.close();
  }
}
