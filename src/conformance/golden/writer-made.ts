// Writer-made goldens: the reference writer (src/impl saveMappedRam) writes a stopped `-M none` VM's file
// from pattern images, then byte-level mutations turn it into what QEMU 10.0 cannot produce.
import { constants } from "node:fs";
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DirtyPage,
  FileSource,
  MACHINE_NONE,
  type ParsedStream,
  parseStream,
  ramListOrder,
  type SaveBlock,
  type SavePlan,
  type SaveResult,
  saveMappedRam,
  vmdescJson,
} from "../../impl/index.js";
import type { BlockParam, Mutation, PrefixSpec, QemuSaveParams, WriterParams } from "../model.js";
import { fillPage, libvirtPrefix, PAGE_SIZE, type PageWrite, writeImage } from "../patterns.js";

/** What a mutation may refer to: the writer's layout and the records of the unmutated file. */
export interface BaseFile {
  save: SaveResult;
  /** the records of the unmutated file; undefined when our reader cannot walk it */
  stream: ParsedStream | undefined;
}

export function prefixBytes(p: PrefixSpec): Uint8Array {
  return p.kind === "libvirt" ? libvirtPrefix(p.length) : new Uint8Array(p.length).fill(p.byte);
}

/** Parses `0x..` hex or decimal text. */
export function parseBig(text: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) throw new RangeError(`"${text}" is not a number`);
  return BigInt(text);
}

function hexBytes(text: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new RangeError(`"${text}" is not lowercase hex bytes`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Writes the unmutated file of `params` at `out` (images go to `tmp`). With a prefix, the prefix
 * bytes are written first and the save keeps them (ftruncate to the offset).
 */
export async function writeBase(
  params: WriterParams,
  out: string,
  tmp: string,
  prefix?: PrefixSpec,
): Promise<BaseFile> {
  const offset = params.offset === undefined ? 0n : parseBig(params.offset);
  if (prefix !== undefined) await writeFile(out, prefixBytes(prefix));
  const sources: FileSource[] = [];
  try {
    const blocks: SaveBlock[] = [];
    for (const b of params.blocks) {
      const path = join(tmp, `${b.id.replaceAll("/", "_")}.img`);
      await writeImage(path, parseBig(b.size), b.pattern);
      const src = await FileSource.open(path);
      sources.push(src);
      const mr = params.mrAddr?.[b.id];
      blocks.push({
        idstr: b.id,
        usedLength: parseBig(b.size),
        image: src,
        ...(mr === undefined ? {} : { mrAddr: parseBig(mr) }),
      });
    }
    const configuration = {
      machineName: MACHINE_NONE.machineName,
      capabilities: params.capabilities ?? ["mapped-ram"],
    };
    const devices = MACHINE_NONE.devices("prelaunch");
    const plan: SavePlan = {
      offset,
      configuration,
      ramSection: MACHINE_NONE.ramSection,
      blocks: ramListOrder(blocks),
      partSections: params.partSections ?? 1,
      switchoverStart: params.switchoverStart ?? MACHINE_NONE.switchoverStart,
      devices,
      vmdesc: params.vmdesc === false ? null : vmdescJson(configuration, devices),
      zeroPageDetection: params.zeroPageDetection ?? "multifd",
      multifdChannels: params.multifdChannels ?? null,
    };
    if (params.rounds !== undefined) plan.rounds = params.rounds.map((r) => roundPages(r.block, r.writes));
    const save = await saveMappedRam(out, plan);
    const src = await FileSource.open(out);
    try {
      const stream = await parseStream(src, { offset }).catch(() => undefined);
      return { save, stream };
    } finally {
      await src.close();
    }
  } finally {
    for (const s of sources) await s.close();
  }
}

function roundPages(block: string, writes: readonly PageWrite[]): DirtyPage[] {
  const out: DirtyPage[] = [];
  for (const w of writes) {
    for (let p = w.firstPage; p < w.firstPage + w.count; p++)
      out.push({ block, page: p, data: new Uint8Array(PAGE_SIZE).fill(w.byte) });
  }
  return out;
}

/** Applies mutations in order. Golden files are small: the file is edited in memory. */
export async function applyMutations(path: string, mutations: readonly Mutation[]): Promise<void> {
  if (mutations.length === 0) return;
  let bytes: Uint8Array = new Uint8Array(await readFile(path));
  if (bytes.length > 64 << 20) throw new RangeError(`${path}: too large to mutate in memory`);
  for (const m of mutations) {
    const at = Number(parseBig(m.at));
    if (at > bytes.length) throw new RangeError(`mutation at ${m.at} is past the end (${bytes.length})`);
    switch (m.op) {
      case "patch": {
        const b = hexBytes(m.hex);
        if (at + b.length > bytes.length) throw new RangeError(`patch at ${m.at} runs past the end`);
        bytes.set(b, at);
        break;
      }
      case "insert": {
        const b = hexBytes(m.hex);
        const next = new Uint8Array(bytes.length + b.length);
        next.set(bytes.subarray(0, at));
        next.set(b, at);
        next.set(bytes.subarray(at), at + b.length);
        bytes = next;
        break;
      }
      case "remove": {
        const n = Number(parseBig(m.length));
        if (at + n > bytes.length) throw new RangeError(`remove at ${m.at} runs past the end`);
        const next = new Uint8Array(bytes.length - n);
        next.set(bytes.subarray(0, at));
        next.set(bytes.subarray(at + n), at);
        bytes = next;
        break;
      }
      case "truncate":
        bytes = bytes.subarray(0, at);
        break;
    }
  }
  const fh = await open(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    await fh.write(bytes, 0, bytes.length, 0);
  } finally {
    await fh.close();
  }
}

/**
 * The writer parameters equivalent to a QEMU save of a stopped `-M none` VM, or undefined when the
 * writer cannot reproduce it (another machine, a live save, RAM without a memory backend is `ram`).
 */
export function writerParamsForQemu(p: QemuSaveParams, partSections: number): WriterParams | undefined {
  if (p.machine !== "none" || p.live !== undefined || (p.extraArgs?.length ?? 0) > 0) return undefined;
  let blocks: BlockParam[] = p.blocks;
  if (p.memoryBackend === undefined) {
    if (p.blocks.length > 0 || p.memory === undefined) return undefined;
    const m = /^([0-9]+)M$/.exec(p.memory);
    if (!m) return undefined;
    blocks = [
      { id: "ram", size: `0x${(BigInt(m[1] as string) << 20n).toString(16)}`, pattern: { kind: "zero" } },
    ];
  }
  const multifd = p.capabilities.multifd === true;
  const channels = p.parameters["multifd-channels"];
  const zpd = p.parameters["zero-page-detection"];
  const out: WriterParams = { machine: "none", blocks, partSections };
  if (p.offset !== undefined) out.offset = p.offset;
  if (multifd) out.multifdChannels = typeof channels === "number" ? channels : 2;
  if (zpd === "none" || zpd === "legacy" || zpd === "multifd") out.zeroPageDetection = zpd;
  return out;
}

/** The RAM of a block param, as bytes of one page (for lazily generated image sources). */
export function blockPage(b: BlockParam, p: number, into: Uint8Array): void {
  into.fill(0);
  fillPage(b.pattern, p, Number(parseBig(b.size) / BigInt(PAGE_SIZE)), into);
}
