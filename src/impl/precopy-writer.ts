// migration/savevm.c + migration/ram.c (ram_save_setup, ram_save_iterate, ram_save_complete without
// mapped-ram): writes an ordinary precopy stream from a PrecopyModel, record by record — header,
// configuration, RAM START (MEM_SIZE, block list), the PAGE/ZERO/MULTIFD_FLUSH records of every RAM
// section, commands, device sections, EOF, vmdesc. Page data is copied from the source file, a batch of
// records at a time, so memory stays bounded whatever the RAM size.
import { ByteWriter, latin1 } from "./bytes.js";
import { encodeConfiguration } from "./configuration.js";
import {
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_ZERO,
  TARGET_PAGE_SIZE,
  TARGET_PAGE_SIZE_N,
} from "./constants.js";
import { OutputFile } from "./output.js";
import type { PageRun, PrecopyModel, PrecopyRecord } from "./precopy-model.js";
import {
  encodeCommand,
  encodeEof,
  encodeFileHeader,
  encodeSectionFooter,
  encodeSectionHeader,
  encodeSectionShortHeader,
  encodeVmdesc,
} from "./sections.js";
import type { RandomAccessSource } from "./source.js";

/** Records whose page data is read from the source in one go. */
const BATCH_RECORDS = 128;
/** Buffered main-stream bytes before a write. */
const FLUSH_AT = 1024 * 1024;

/** Sequential writes through one buffer, like QEMUFile's. */
class StreamOut {
  private w = new ByteWriter(FLUSH_AT + 2 * TARGET_PAGE_SIZE);
  constructor(
    private readonly out: OutputFile,
    public pos: bigint,
  ) {}

  async put(b: Uint8Array): Promise<void> {
    this.w.bytes(b);
    if (this.w.length >= FLUSH_AT) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.w.length === 0) return;
    const b = this.w.finish();
    await this.out.writeAt(b, this.pos);
    this.pos += BigInt(b.length);
    this.w = new ByteWriter(FLUSH_AT + 2 * TARGET_PAGE_SIZE);
  }
}

export interface PrecopyWriteResult {
  /** end of the stream (the file size) */
  fileSize: bigint;
  pages: number;
  zeroPages: number;
}

function recordWord(run: PageRun, page: number, first: boolean): bigint {
  const flag = run.kind === "page" ? RAM_SAVE_FLAG_PAGE : RAM_SAVE_FLAG_ZERO;
  const cont = first && run.named ? 0n : RAM_SAVE_FLAG_CONTINUE;
  return (BigInt(page) * TARGET_PAGE_SIZE_N) | flag | cont;
}

/**
 * Writes `model` as an ordinary precopy stream at `path` (created like a `file:` migration: bytes before
 * the offset are kept). Page data of PAGE runs is read from `source` at the runs' recorded offsets.
 */
export async function writePrecopy(
  path: string,
  model: PrecopyModel,
  source: RandomAccessSource,
): Promise<PrecopyWriteResult> {
  const out = await OutputFile.create(path, model.offset);
  const s = new StreamOut(out, model.offset);
  let pages = 0;
  let zeroPages = 0;
  const id = model.ramSection.sectionId;
  const footer = encodeSectionFooter(id);
  try {
    await s.put(encodeFileHeader());
    if (model.configuration) await s.put(encodeConfiguration(model.configuration));
    for (const r of model.records) {
      if (r.kind !== "ram") {
        await s.put(encodeOther(r));
        continue;
      }
      if (r.type === "start") {
        const w = new ByteWriter().bytes(encodeSectionHeader(QEMU_VM_SECTION_START, model.ramSection));
        const total = model.blocks.reduce((t, b) => t + b.usedLength, 0n);
        w.u64be(total | RAM_SAVE_FLAG_MEM_SIZE);
        for (const b of model.blocks) {
          w.countedString(b.idstr).u64be(b.usedLength);
          if (b.mrAddr !== undefined) w.u64be(b.mrAddr);
        }
        await s.put(w.finish());
      } else {
        await s.put(
          encodeSectionShortHeader(r.type === "part" ? QEMU_VM_SECTION_PART : QEMU_VM_SECTION_END, id),
        );
      }
      for (const item of r.items) {
        if (item.kind === "flush") {
          await s.put(new ByteWriter(8).u64be(RAM_SAVE_FLAG_MULTIFD_FLUSH).finish());
          continue;
        }
        const n = await writeRun(s, item, model, source);
        if (item.kind === "page") pages += n;
        else zeroPages += n;
      }
      await s.put(new ByteWriter(8).u64be(RAM_SAVE_FLAG_EOS).finish());
      await s.put(footer);
    }
    if (model.vmdesc !== null) await s.put(encodeVmdesc(model.vmdesc));
    await s.flush();
    return { fileSize: s.pos, pages, zeroPages };
  } finally {
    await out.close().catch(() => undefined);
  }
}

function encodeOther(r: Exclude<PrecopyRecord, { kind: "ram" }>): Uint8Array {
  switch (r.kind) {
    case "command":
      return encodeCommand(r.command, r.data);
    case "device":
      return new ByteWriter(r.payload.length + 48)
        .bytes(encodeSectionHeader(QEMU_VM_SECTION_FULL, r.section))
        .bytes(r.payload)
        .bytes(encodeSectionFooter(r.section.sectionId))
        .finish();
    case "eof":
      return encodeEof();
  }
}

async function writeRun(s: StreamOut, run: PageRun, model: PrecopyModel, source: RandomAccessSource) {
  const block = model.blocks[run.block];
  if (!block) throw new RangeError(`run names block ${run.block}, which the model does not have`);
  const name = latin1(block.idstr);
  const named = run.named ? 1 + name.length : 0;
  if (run.kind === "zero") {
    for (let i = 0; i < run.count; i++) {
      const w = new ByteWriter(16 + named).u64be(recordWord(run, run.firstPage + i, i === 0));
      if (i === 0 && run.named) w.countedString(name);
      await s.put(w.u8(run.fill).finish());
    }
    return run.count;
  }
  // PAGE records in the source: [word][name]data, then (word data) × (count - 1), each 8 + 4096 bytes.
  const stride = 8 + TARGET_PAGE_SIZE;
  for (let first = 0; first < run.count; first += BATCH_RECORDS) {
    const n = Math.min(BATCH_RECORDS, run.count - first);
    const lead = first === 0 ? named : 0;
    const from = run.source + BigInt(first * stride + (first === 0 ? 0 : named));
    const span = n * stride + lead;
    const raw = await source.read(from, span, `page records of block "${block.idstr}"`);
    for (let i = 0; i < n; i++) {
      const k = first + i;
      const data = raw.subarray(lead + i * stride + 8, lead + (i + 1) * stride);
      const w = new ByteWriter(stride + named).u64be(recordWord(run, run.firstPage + k, k === 0));
      if (k === 0 && run.named) w.countedString(name);
      await s.put(w.bytes(data).finish());
    }
  }
  return run.count;
}
