// migration/migration.c: migration_thread for a precopy save to `file:` with mapped-ram, in the order
// QEMU 10.0 writes it (savevm.c: qemu_savevm_state_header, _setup, _iterate, _complete_precopy):
//   header + configuration | RAM START (MEM_SIZE, per block idstr/used_length/[addr]/MappedRamHeader,
//   seek past the reserved region) EOS footer | pages at fixed offsets | PART × K | SWITCHOVER_START |
//   bitmaps (pwrite) | RAM END (EOS) footer | device FULL sections | EOF | vmdesc

import { pageRangesToRead } from "./allocation.js";
import { PageBitmap } from "./bitmap.js";
import { ByteWriter, hex, toSafeNumber } from "./bytes.js";
import { type Configuration, encodeConfiguration } from "./configuration.js";
import {
  MAPPED_RAM_HDR_VERSION,
  MIG_CMD_SWITCHOVER_START,
  MULTIFD_PAGES_PER_PACKET,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  TARGET_PAGE_SIZE,
  TARGET_PAGE_SIZE_N,
} from "./constants.js";
import { MappedRamError } from "./errors.js";
import { type BlockRegions, blockRegions } from "./layout.js";
import type { DeviceSection } from "./machine.js";
import { encodeMappedRamHeader } from "./mapped-ram-header.js";
import { OutputFile } from "./output.js";
import { type BlockTarget, PageSender } from "./ram-save.js";
import {
  encodeCommand,
  encodeEof,
  encodeFileHeader,
  encodeFullSection,
  encodeSectionFooter,
  encodeSectionHeader,
  encodeSectionShortHeader,
  encodeVmdesc,
  type SectionId,
} from "./sections.js";
import type { ZeroPageDetection } from "./zero-page.js";

/** Where a block's initial contents come from (a RAM image file, or memory in tests). */
export interface PageReader {
  readInto(offset: bigint, into: Uint8Array): Promise<number>;
  /** a regular file holding the pages from `fileOffset`: channel threads may read it themselves */
  readonly filePath?: string | undefined;
  /** where page 0 lies in `filePath` (default 0) */
  readonly fileOffset?: bigint;
  /** its size, when known */
  readonly size?: bigint;
}

export interface SaveBlock {
  idstr: string;
  usedLength: bigint;
  image: PageReader;
  /** be64 mr->addr, written before the header when x-ignore-shared is listed (QEMU 10.0 does this) */
  mrAddr?: bigint;
}

/** One dirty page seen by a later round of a live save, with its new contents. */
export interface DirtyPage {
  block: string;
  page: number;
  data: Uint8Array;
}

/**
 * A later round given as a snapshot of one block's RAM: the pages that differ from the block's
 * previous contents (the initial image, or its last snapshot) are the dirty ones. Read in batches,
 * so memory does not grow with RAM size.
 */
export interface RoundSnapshot {
  block: string;
  image: PageReader;
}

/** One later round of a live save: explicit dirty pages, or snapshots of blocks. */
export type LiveRound = DirtyPage[] | RoundSnapshot[];

function isSnapshotRound(r: LiveRound): r is RoundSnapshot[] {
  const first = r[0];
  return first !== undefined && "image" in first;
}

export interface SavePlan {
  /** `file:` offset N: the stream starts here; bytes before N are kept */
  offset: bigint;
  configuration: Configuration;
  ramSection: SectionId;
  blocks: SaveBlock[];
  /** empty SECTION_PART records before END (QEMU: one per ram_save_iterate call) */
  partSections: number;
  switchoverStart: boolean;
  /** SECTION_FULL device records after RAM END */
  devices: DeviceSection[];
  /** null: the machine suppresses the vmdesc */
  vmdesc: string | null;
  zeroPageDetection: ZeroPageDetection;
  /** null: multifd off; else the number of channels (1..255) */
  multifdChannels: number | null;
  /** later rounds of a live save (applied after the bulk pass, before END), in order */
  rounds?: LiveRound[];
  /** property send-section-footer (default on) */
  sectionFooters?: boolean;
  /**
   * The records after RAM START, in stream order, as read from a file (`mrc reencode`). When given it
   * replaces partSections, switchoverStart, devices and the EOF; it must hold exactly one RAM END.
   */
  tail?: TailRecord[];
  /** called after each batch of the bulk pass with RAM bytes done / total (a progress bar) */
  onProgress?: (done: bigint, total: bigint) => void;
}

/** One main-stream record after RAM START (savevm.c), for plans that follow a file record by record. */
export type TailRecord =
  | { kind: "ram-part" }
  | { kind: "ram-end" }
  | { kind: "command"; command: number; data: Uint8Array }
  | { kind: "device"; section: SectionId; payload: Uint8Array }
  | { kind: "eof" };

function encodeTailRecord(r: TailRecord, plan: SavePlan): Uint8Array {
  switch (r.kind) {
    case "ram-part":
      return ramEmptySection(QEMU_VM_SECTION_PART, plan);
    case "ram-end":
      return ramEmptySection(QEMU_VM_SECTION_END, plan);
    case "command":
      return encodeCommand(r.command, r.data);
    case "device": {
      const full = encodeFullSection(r.section, r.payload);
      return (plan.sectionFooters ?? true) ? full : full.subarray(0, full.length - 5);
    }
    case "eof":
      return encodeEof();
  }
}

export interface BlockLayout extends BlockRegions {
  idstr: string;
  usedLength: bigint;
  /** where the block's record (u8 len + idstr) starts */
  recordOffset: bigint;
  numPages: number;
}

export interface SaveResult {
  /** pagesInHoles: pages never read because they lie in holes of a sparse RAM image file */
  blocks: Array<BlockLayout & { pagesWritten: number; pagesInHoles: number }>;
  /** where the stream continues after the last block (the setup EOS) */
  resumeOffset: bigint;
  fileSize: bigint;
}

function checkPlan(plan: SavePlan): void {
  const bad = (rule: string, actual: string) =>
    new MappedRamError("ERR_BAD_ARGUMENT", { subject: "save plan", rule, actual });
  if (plan.offset < 0n) throw bad("offset must not be negative", hex(plan.offset));
  if (plan.multifdChannels !== null && (plan.multifdChannels < 1 || plan.multifdChannels > 255)) {
    throw bad("multifd-channels must be between 1 and 255", String(plan.multifdChannels));
  }
  if (plan.tail && plan.tail.filter((r) => r.kind === "ram-end").length !== 1) {
    throw bad("tail must hold exactly one RAM END record", String(plan.tail.length));
  }
  if (!Number.isInteger(plan.partSections) || plan.partSections < 0) {
    throw bad("partSections must be a whole number", String(plan.partSections));
  }
  const names = new Set<string>();
  for (const b of plan.blocks) {
    if (names.has(b.idstr)) throw bad("block names must be unique", JSON.stringify(b.idstr));
    names.add(b.idstr);
    if (b.usedLength <= 0n || b.usedLength % TARGET_PAGE_SIZE_N !== 0n) {
      throw bad(`block "${b.idstr}" used_length must be a positive multiple of 0x1000`, hex(b.usedLength));
    }
  }
}

/** Main-stream bytes of the RAM START section, with each block's layout. */
function ramStart(
  plan: SavePlan,
  at: bigint,
): { writes: Array<[bigint, Uint8Array]>; layouts: BlockLayout[]; end: bigint } {
  const ignoreShared = plan.configuration.capabilities.includes("x-ignore-shared");
  const writes: Array<[bigint, Uint8Array]> = [];
  const layouts: BlockLayout[] = [];
  const total = plan.blocks.reduce((s, b) => s + b.usedLength, 0n);
  let w = new ByteWriter()
    .bytes(encodeSectionHeader(QEMU_VM_SECTION_START, plan.ramSection))
    .u64be(total | RAM_SAVE_FLAG_MEM_SIZE);
  let pos = at;
  for (const b of plan.blocks) {
    const recordOffset = pos + BigInt(w.length);
    w.countedString(b.idstr).u64be(b.usedLength);
    if (ignoreShared) w.u64be(b.mrAddr ?? 0n);
    const headerOffset = pos + BigInt(w.length);
    const r = blockRegions(headerOffset, b.usedLength);
    w.bytes(
      encodeMappedRamHeader({
        version: MAPPED_RAM_HDR_VERSION,
        pageSize: TARGET_PAGE_SIZE_N,
        bitmapOffset: r.bitmapOffset,
        pagesOffset: r.pagesOffset,
      }),
    );
    writes.push([pos, w.finish()]);
    layouts.push({
      ...r,
      idstr: b.idstr,
      usedLength: b.usedLength,
      recordOffset,
      numPages: Number(b.usedLength / TARGET_PAGE_SIZE_N),
    });
    // mapped_ram_setup_ramblock: qemu_set_offset(pages_offset + used_length, SEEK_SET)
    pos = r.end;
    w = new ByteWriter();
  }
  w.u64be(RAM_SAVE_FLAG_EOS);
  if (plan.sectionFooters ?? true) w.bytes(encodeSectionFooter(plan.ramSection.sectionId));
  writes.push([pos, w.finish()]);
  return { writes, layouts, end: pos + BigInt(w.length) };
}

/** An empty RAM PART/END record: header, EOS, footer. */
function ramEmptySection(type: typeof QEMU_VM_SECTION_PART | typeof QEMU_VM_SECTION_END, plan: SavePlan) {
  const w = new ByteWriter(18)
    .bytes(encodeSectionShortHeader(type, plan.ramSection.sectionId))
    .u64be(RAM_SAVE_FLAG_EOS);
  if (plan.sectionFooters ?? true) w.bytes(encodeSectionFooter(plan.ramSection.sectionId));
  return w.finish();
}

/**
 * Writes a whole mapped-ram migration file at `path` as QEMU 10.0.2 does for the plan.
 * Memory stays bounded: images are read in batches of 128 pages.
 */
/** Writes `plan` to `path`; errors name `finalPath` when `path` is a temp file the caller will rename. */
export async function saveMappedRam(path: string, plan: SavePlan, finalPath?: string): Promise<SaveResult> {
  checkPlan(plan);
  const main = await OutputFile.create(path, plan.offset, finalPath);
  let sender: PageSender | undefined;
  try {
    // qemu_savevm_state_header + qemu_savevm_state_setup
    const head = new ByteWriter()
      .bytes(encodeFileHeader())
      .bytes(encodeConfiguration(plan.configuration))
      .finish();
    await main.writeAt(head, plan.offset);
    const start = ramStart(plan, plan.offset + BigInt(head.length));
    for (const [at, bytes] of start.writes) await main.writeAt(bytes, at);

    sender = await PageSender.start(main, plan.zeroPageDetection, plan.multifdChannels);
    const shared = PageSender.needsSharedBitmap(plan.multifdChannels);
    const targets: BlockTarget[] = start.layouts.map((l, i) => {
      const image = (plan.blocks[i] as SaveBlock).image;
      const t: BlockTarget = {
        idstr: l.idstr,
        pagesOffset: l.pagesOffset,
        bitmap: shared ? PageBitmap.shared(l.numPages) : new PageBitmap(l.numPages),
      };
      if (image.filePath !== undefined && image.size !== undefined) {
        const offset = image.fileOffset ?? 0n;
        if (image.size < offset + l.usedLength) {
          throw shortImage(l.idstr, image.size > offset ? image.size - offset : 0n, l.usedLength);
        }
        t.image = { path: image.filePath, offset, usedLength: l.usedLength };
      }
      return t;
    });

    // Bulk pass: every page is dirty at the start of a save.
    const progressTotal = plan.blocks.reduce((s, b) => s + b.usedLength, 0n);
    let progressDone = 0n;
    let reported = -1n;
    const reportProgress = (done: bigint) => {
      if (done === reported) return;
      reported = done;
      plan.onProgress?.(done, progressTotal);
    };
    // Pages are read straight into the channels' slots; legacy zero detection reads into `scratch`.
    const scratch = new Uint8Array(MULTIFD_PAGES_PER_PACKET * TARGET_PAGE_SIZE);
    const holePages: number[] = [];
    for (let bi = 0; bi < plan.blocks.length; bi++) {
      const block = plan.blocks[bi] as SaveBlock;
      const target = targets[bi] as BlockTarget;
      const layout = start.layouts[bi] as BlockLayout;
      // Pages in holes of a sparse image file are zero: their bits stay clear and nothing is written,
      // so they are not read either (zero-page-detection=none writes every page: no skipping).
      const ranges =
        target.image !== undefined && plan.zeroPageDetection !== "none"
          ? await pageRangesToRead(
              target.image.path,
              layout.numPages,
              TARGET_PAGE_SIZE,
              toSafeNumber(target.image.offset, "image offset"),
            )
          : Float64Array.of(0, layout.numPages);
      let withDataPages = 0;
      for (let r = 0; r < ranges.length; r += 2)
        withDataPages += (ranges[r + 1] as number) - (ranges[r] as number);
      holePages.push(layout.numPages - withDataPages);
      const fill = async (first: number, into: Uint8Array) => {
        const at = BigInt(first) * TARGET_PAGE_SIZE_N;
        const got = await block.image.readInto(at, into);
        if (got !== into.length) throw shortImage(block.idstr, at + BigInt(got), block.usedLength);
      };
      const onPages = plan.onProgress
        ? (pages: number) => reportProgress(progressDone + BigInt(pages) * TARGET_PAGE_SIZE_N)
        : undefined;
      await sender.sendRanges(target, ranges, fill, scratch, onPages);
      progressDone += layout.usedLength;
      reportProgress(progressDone); // holes after the last range, or pages written off this thread
    }
    // find_dirty_block wrapped: multifd_ram_flush_and_sync (writes nothing)
    await sender.sync();

    // Later rounds of a live save: dirty pages are re-sent at the same offsets.
    const current = new Map<string, PageReader>(plan.blocks.map((b) => [b.idstr, b.image]));
    for (const round of plan.rounds ?? []) {
      if (isSnapshotRound(round))
        await sendSnapshotRound(round, plan, targets, start.layouts, current, sender);
      else await sendRound(round, plan, targets, sender);
      await sender.sync();
    }

    // Main stream after the last block: PART × K, SWITCHOVER_START, then END.
    let pos = start.end;
    const tail = new ByteWriter();
    if (!plan.tail) {
      for (let k = 0; k < plan.partSections; k++) tail.bytes(ramEmptySection(QEMU_VM_SECTION_PART, plan));
      if (plan.switchoverStart) tail.bytes(encodeCommand(MIG_CMD_SWITCHOVER_START));
    }
    // ram_save_complete -> ram_save_file_bmap: every bitmap is written once, after all pages.
    for (let bi = 0; bi < targets.length; bi++) {
      const t = targets[bi] as BlockTarget;
      const l = start.layouts[bi] as BlockLayout;
      await main.writeAt(t.bitmap.bytes, l.bitmapOffset);
    }
    if (plan.tail) {
      for (const r of plan.tail) tail.bytes(encodeTailRecord(r, plan));
    } else {
      tail.bytes(ramEmptySection(QEMU_VM_SECTION_END, plan));
      for (const d of plan.devices) {
        const full = encodeFullSection(d.section, d.payload);
        tail.bytes((plan.sectionFooters ?? true) ? full : full.subarray(0, full.length - 5));
      }
      tail.bytes(encodeEof());
    }
    if (plan.vmdesc !== null) tail.bytes(encodeVmdesc(plan.vmdesc));
    const tailBytes = tail.finish();
    await main.writeAt(tailBytes, pos);
    pos += BigInt(tailBytes.length);

    return {
      blocks: start.layouts.map((l, i) => ({
        ...l,
        pagesWritten: (targets[i] as BlockTarget).bitmap.count(),
        pagesInHoles: holePages[i] ?? 0,
      })),
      resumeOffset: start.layouts.at(-1)?.end ?? start.end,
      fileSize: pos,
    };
  } finally {
    await sender?.close();
    await main.close().catch(() => undefined);
  }
}

async function sendRound(round: DirtyPage[], plan: SavePlan, targets: BlockTarget[], sender: PageSender) {
  // QEMU scans blocks in RAM-list order and pages in ascending order; batches hold one block.
  const byBlock = new Map<string, DirtyPage[]>();
  for (const d of round) {
    if (d.data.length !== TARGET_PAGE_SIZE) {
      throw new MappedRamError("ERR_BAD_ARGUMENT", {
        subject: `dirty page ${d.page} of block "${d.block}"`,
        rule: "must be 4096 bytes",
        actual: String(d.data.length),
      });
    }
    const list = byBlock.get(d.block) ?? [];
    list.push(d);
    byBlock.set(d.block, list);
  }
  for (let bi = 0; bi < plan.blocks.length; bi++) {
    const target = targets[bi] as BlockTarget;
    const dirty = byBlock.get(target.idstr);
    if (!dirty) continue;
    byBlock.delete(target.idstr);
    // last write of a page in a round wins
    const latest = new Map<number, Uint8Array>();
    for (const d of dirty) {
      if (!Number.isInteger(d.page) || d.page < 0 || d.page >= target.bitmap.numPages) {
        throw new MappedRamError("ERR_BAD_ARGUMENT", {
          subject: `block "${target.idstr}"`,
          rule: `dirty page must be below ${target.bitmap.numPages}`,
          actual: String(d.page),
        });
      }
      latest.set(d.page, d.data);
    }
    const order = [...latest.keys()].sort((a, b) => a - b);
    for (let i = 0; i < order.length; i += MULTIFD_PAGES_PER_PACKET) {
      const pages = order.slice(i, i + MULTIFD_PAGES_PER_PACKET);
      const buf = new Uint8Array(pages.length * TARGET_PAGE_SIZE);
      pages.forEach((p, j) => {
        buf.set(latest.get(p) as Uint8Array, j * TARGET_PAGE_SIZE);
      });
      await sender.send({ block: target, pages, buf });
    }
  }
  const unknown = [...byBlock.keys()][0];
  if (unknown !== undefined) {
    throw new MappedRamError("ERR_BAD_ARGUMENT", {
      subject: "live round",
      rule: "names an unknown block",
      actual: unknown,
    });
  }
}

/** A RAM image that ends at `end`, before the block's used_length. */
function shortImage(idstr: string, end: bigint, usedLength: bigint): MappedRamError {
  return new MappedRamError("ERR_BAD_ARGUMENT", {
    subject: `RAM image of block "${idstr}"`,
    offset: end,
    rule: `is shorter than used_length ${hex(usedLength)}`,
  });
}

/** Sends the pages of each snapshot that differ from the block's previous contents. */
async function sendSnapshotRound(
  round: RoundSnapshot[],
  plan: SavePlan,
  targets: BlockTarget[],
  layouts: BlockLayout[],
  current: Map<string, PageReader>,
  sender: PageSender,
): Promise<void> {
  const seen = new Set<string>();
  // Reused for every batch: PageSender.send has copied a batch into a channel slot when it resolves.
  const oldBuf = new Uint8Array(MULTIFD_PAGES_PER_PACKET * TARGET_PAGE_SIZE);
  const nowBuf = new Uint8Array(MULTIFD_PAGES_PER_PACKET * TARGET_PAGE_SIZE);
  const sendBuf = new Uint8Array(MULTIFD_PAGES_PER_PACKET * TARGET_PAGE_SIZE);
  for (let bi = 0; bi < plan.blocks.length; bi++) {
    const target = targets[bi] as BlockTarget;
    const layout = layouts[bi] as BlockLayout;
    const snap = round.find((r) => r.block === target.idstr);
    if (!snap) continue;
    seen.add(snap.block);
    const before = current.get(target.idstr) as PageReader;
    for (let first = 0; first < layout.numPages; first += MULTIFD_PAGES_PER_PACKET) {
      const n = Math.min(MULTIFD_PAGES_PER_PACKET, layout.numPages - first);
      const old = oldBuf.subarray(0, n * TARGET_PAGE_SIZE);
      const now = nowBuf.subarray(0, n * TARGET_PAGE_SIZE);
      const at = BigInt(first) * TARGET_PAGE_SIZE_N;
      const gotOld = await before.readInto(at, old);
      const gotNow = await snap.image.readInto(at, now);
      if (gotOld !== old.length || gotNow !== now.length) {
        throw new MappedRamError("ERR_BAD_ARGUMENT", {
          subject: `round snapshot of block "${target.idstr}"`,
          offset: at + BigInt(Math.min(gotOld, gotNow)),
          rule: `is shorter than used_length ${hex(layout.usedLength)}`,
        });
      }
      const pages: number[] = [];
      for (let i = 0; i < n; i++) {
        const a = old.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE);
        const b = now.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE);
        if (Buffer.compare(a, b) !== 0) pages.push(i);
      }
      if (pages.length === 0) continue;
      const buf = sendBuf.subarray(0, pages.length * TARGET_PAGE_SIZE);
      pages.forEach((i, j) => {
        buf.set(now.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE), j * TARGET_PAGE_SIZE);
      });
      await sender.send({ block: target, pages: pages.map((i) => first + i), buf });
    }
    current.set(target.idstr, snap.image);
  }
  const unknown = round.find((r) => !seen.has(r.block));
  if (unknown) {
    throw new MappedRamError("ERR_BAD_ARGUMENT", {
      subject: "live round",
      rule: "names an unknown block",
      actual: JSON.stringify(unknown.block),
    });
  }
}
