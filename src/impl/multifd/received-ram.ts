// migration/ram.c (ram_handle_zero, ramblock_recv_bitmap_*) and multifd-zero-page.c
// (multifd_recv_zero_page_process): the destination's RAM, kept in files. Every block starts as a sparse,
// zero-filled file ("fresh RAM"); a zero page is written only when the page was received before.
// Outputs are temp names in the target directory, renamed only on success (like `mrc extract`); with a
// `.mig` target the blocks are scratch files turned into the equivalent mapped-ram file by saveMappedRam.
import { access, mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PageBitmap } from "../bitmap.js";
import { hex } from "../bytes.js";
import { type Configuration, listedCapabilities } from "../configuration.js";
import { TARGET_PAGE_SIZE, TARGET_PAGE_SIZE_N } from "../constants.js";
import { MappedRamError } from "../errors.js";
import { blockFileName } from "../extract.js";
import { type DeviceSection, vmdescJson } from "../machine.js";
import { ioError, OutputFile } from "../output.js";
import type { QemuJsonValue } from "../qemu-json.js";
import { FileSource } from "../source.js";
import { tempPathFor } from "../temp-path.js";
import { type SavePlan, saveMappedRam } from "../writer.js";
import { deviceDesc, type MainChannelSummary, type StreamBlock } from "./precopy-parse.js";

export type ReceiveOutput = { kind: "blocks"; dir: string } | { kind: "mapped-ram"; file: string };

/** `-o FILE.mig` writes a mapped-ram file; anything else is a directory of block files. */
export function receiveOutput(path: string): ReceiveOutput {
  return path.endsWith(".mig") ? { kind: "mapped-ram", file: path } : { kind: "blocks", dir: path };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Bytes [start, end) of the concatenation of `views`, as views of them (no copy). */
export function viewsOfRange(views: readonly Uint8Array[], start: number, end: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const v of views) {
    const from = Math.max(start, at);
    const to = Math.min(end, at + v.length);
    if (from < to) out.push(from === at && to === at + v.length ? v : v.subarray(from - at, to - at));
    at += v.length;
    if (at >= end) break;
  }
  if (at < end) throw new RangeError(`bytes up to ${end} asked of views holding ${at}`);
  return out;
}

function alreadyExists(path: string): MappedRamError {
  return new MappedRamError("ERR_IO", {
    subject: `output "${path}"`,
    rule: "already exists (use --force to replace it)",
    verb: "write",
  });
}

interface BlockFile {
  block: StreamBlock;
  tmp: string;
  final: string | undefined;
  out: OutputFile;
  /** ramblock receivedmap */
  received: PageBitmap;
}

export interface ReceivedBlock {
  idstr: string;
  usedLength: bigint;
  /** the block file (`blocks` output) */
  file?: string;
  /** pages that were received at least once (normal or zero) */
  pagesReceived: number;
}

export class ReceivedRam {
  readonly #output: ReceiveOutput;
  readonly #force: boolean;
  readonly #files = new Map<string, BlockFile>();
  #committed = false;

  constructor(output: ReceiveOutput, force: boolean) {
    this.#output = output;
    this.#force = force;
  }

  /** Checks the target before anything is received. */
  async prepare(): Promise<void> {
    const dir = this.#output.kind === "blocks" ? this.#output.dir : dirname(this.#output.file);
    await mkdir(dir, { recursive: true }).catch((e: unknown) => {
      throw ioError(dir, undefined, e);
    });
    if (this.#output.kind === "mapped-ram" && !this.#force && (await exists(this.#output.file))) {
      throw alreadyExists(this.#output.file);
    }
  }

  /** Creates one sparse temp file per block of the START section's list. */
  async open(blocks: readonly StreamBlock[]): Promise<void> {
    const out = this.#output;
    const finals = new Map<string, string>();
    for (const [i, b] of blocks.entries()) {
      let tmp: string;
      let final: string | undefined;
      if (out.kind === "blocks") {
        final = join(out.dir, blockFileName(b.idstr));
        const other = finals.get(final);
        if (other !== undefined) {
          throw new MappedRamError("ERR_INVALID_VALUE", {
            subject: `main channel ramblock "${b.idstr}"`,
            field: "idstr",
            rule: `maps to the same output file as ramblock "${other}"`,
          });
        }
        finals.set(final, b.idstr);
        if (!this.#force && (await exists(final))) throw alreadyExists(final);
        tmp = join(out.dir, `.mrc-receive-${i}-${process.pid}.partial`);
      } else {
        tmp = tempPathFor(out.file, `receive-${i}`);
      }
      const file = await OutputFile.create(tmp, 0n).catch((e: unknown) => {
        throw e instanceof MappedRamError ? e : ioError(tmp, undefined, e);
      });
      this.#files.set(b.idstr, {
        block: b,
        tmp,
        final,
        out: file,
        received: new PageBitmap(b.numPages),
      });
      await file.truncate(b.usedLength);
    }
  }

  #file(idstr: string): BlockFile {
    const f = this.#files.get(idstr);
    if (!f) throw new RangeError(`block "${idstr}" has no output`);
    return f;
  }

  /** Normal pages whose data is all here: `data` holds offsets.length pages in the same order. */
  async writePages(idstr: string, offsets: readonly bigint[], data: Uint8Array): Promise<void> {
    this.markReceived(idstr, offsets);
    await this.writePageData(idstr, offsets, 0, [data]);
  }

  /** A packet's normal pages are being received: a zero page for one of them later is written as zeros. */
  markReceived(idstr: string, offsets: readonly bigint[]): void {
    const f = this.#file(idstr);
    for (const o of offsets) f.received.set(Number(o / TARGET_PAGE_SIZE_N));
  }

  /**
   * Bytes [from, from + the views' length) of a packet's page data (its normal pages back to back, in
   * the order of `offsets`), written where they belong as they arrive; the bytes of adjacent pages go in
   * one vectored write.
   */
  async writePageData(
    idstr: string,
    offsets: readonly bigint[],
    from: number,
    views: readonly Uint8Array[],
  ): Promise<void> {
    const f = this.#file(idstr);
    let end = from;
    for (const v of views) end += v.length;
    if (end > offsets.length * TARGET_PAGE_SIZE) {
      throw new RangeError(`page data up to ${end} for ${offsets.length} pages`);
    }
    for (let pos = from; pos < end; ) {
      let page = Math.floor(pos / TARGET_PAGE_SIZE);
      const at = (offsets[page] as bigint) + BigInt(pos % TARGET_PAGE_SIZE);
      let stop = (page + 1) * TARGET_PAGE_SIZE;
      while (stop < end && offsets[page + 1] === (offsets[page] as bigint) + TARGET_PAGE_SIZE_N) {
        page++;
        stop += TARGET_PAGE_SIZE;
      }
      stop = Math.min(stop, end);
      await f.out.writevAt(viewsOfRange(views, pos - from, stop - from), at);
      pos = stop;
    }
  }

  /** Zero pages: memset only where a page was received before, else just mark it received. */
  async zeroPages(idstr: string, offsets: readonly bigint[]): Promise<void> {
    const f = this.#file(idstr);
    for (const offset of offsets) {
      const page = Number(offset / TARGET_PAGE_SIZE_N);
      if (f.received.get(page)) await f.out.writeAt(new Uint8Array(TARGET_PAGE_SIZE), offset);
      else f.received.set(page);
    }
  }

  /** Closes the outputs and renames them (blocks) or writes the mapped-ram file; then nothing is temporary. */
  async commit(summary: MainChannelSummary): Promise<{ blocks: ReceivedBlock[]; file?: string }> {
    for (const f of this.#files.values()) await f.out.close();
    const blocks: ReceivedBlock[] = [];
    const out = this.#output;
    if (out.kind === "blocks") {
      for (const f of this.#files.values()) {
        const final = f.final as string;
        if (!this.#force && (await exists(final))) throw alreadyExists(final);
      }
      for (const f of this.#files.values()) {
        const final = f.final as string;
        await rename(f.tmp, final);
        blocks.push({
          idstr: f.block.idstr,
          usedLength: f.block.usedLength,
          file: final,
          pagesReceived: f.received.count(),
        });
      }
      this.#committed = true;
      return { blocks };
    }
    const tmp = tempPathFor(out.file, "receive");
    const sources: FileSource[] = [];
    try {
      for (const f of this.#files.values()) sources.push(await FileSource.open(f.tmp));
      await saveMappedRam(tmp, mappedRamPlan(summary, sources));
      if (!this.#force && (await exists(out.file))) throw alreadyExists(out.file);
      await rename(tmp, out.file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    } finally {
      for (const s of sources) await s.close();
    }
    for (const f of this.#files.values()) {
      blocks.push({
        idstr: f.block.idstr,
        usedLength: f.block.usedLength,
        pagesReceived: f.received.count(),
      });
      await rm(f.tmp, { force: true });
    }
    this.#committed = true;
    return { blocks, file: out.file };
  }

  /** Removes every temp and scratch file (after a failure); nothing half-written stays. */
  async abort(): Promise<void> {
    for (const f of this.#files.values()) {
      await f.out.close().catch(() => undefined);
      if (!this.#committed) await rm(f.tmp, { force: true });
    }
    if (this.#output.kind === "mapped-ram") {
      const out = this.#output.file;
      await rm(tempPathFor(out, "receive"), { force: true });
    }
    this.#files.clear();
  }
}

/**
 * The plan QEMU 10.0.2 follows for `migrate file:` of the same stopped VM with mapped-ram (no multifd, zero
 * pages detected): the received configuration with the mapped-ram capability listed, the received RAM
 * section id, blocks and device sections, one empty PART.
 */
export function mappedRamPlan(summary: MainChannelSummary, images: readonly FileSource[]): SavePlan {
  const cfg = summary.configuration;
  const caps = new Set(["mapped-ram", ...(cfg?.capabilities ?? [])]);
  const configuration: Configuration = {
    machineName: cfg?.machineName ?? "none",
    capabilities: listedCapabilities(caps),
  };
  if (cfg?.targetPageBits !== undefined) configuration.targetPageBits = cfg.targetPageBits;
  if (cfg?.uuid !== undefined) configuration.uuid = cfg.uuid;
  const devices: DeviceSection[] = summary.devices.map((d) => ({
    section: d.section,
    payload: d.payload,
    desc: (deviceDesc(summary, d.section) ?? {}) as unknown as { [key: string]: QemuJsonValue },
  }));
  return {
    offset: 0n,
    configuration,
    ramSection: summary.ramSection,
    blocks: summary.blocks.map((b, i) => {
      const image = images[i];
      if (!image) throw new RangeError(`block "${b.idstr}" has no image`);
      if (image.size !== b.usedLength) {
        throw new MappedRamError("ERR_IO", {
          subject: `scratch image of block "${b.idstr}"`,
          rule: `must be ${hex(b.usedLength)} bytes`,
          actual: hex(image.size),
        });
      }
      return {
        idstr: b.idstr,
        usedLength: b.usedLength,
        image,
        ...(b.mrAddr !== undefined ? { mrAddr: b.mrAddr } : {}),
      };
    }),
    partSections: 1,
    switchoverStart: summary.switchoverStart,
    devices,
    vmdesc: summary.vmdesc ? vmdescJson(configuration, devices) : null,
    zeroPageDetection: "multifd",
    multifdChannels: null,
  };
}
