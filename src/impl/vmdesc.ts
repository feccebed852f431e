// migration/savevm.c: QEMU_VM_VMDESCRIPTION after EOF (be32 length + JSON), and
// scripts/analyze-migration.py's way of finding it from the end of the file.
import { fromLatin1, u32beAt } from "./bytes.js";
import { QEMU_VM_VMDESCRIPTION } from "./constants.js";
import { MappedRamError } from "./errors.js";
import type { RandomAccessSource } from "./source.js";

/** One field of a vmdesc device description. */
export interface VmdescField {
  name: string;
  type: string;
  size: number;
  array_len?: number;
  index?: number;
  struct?: VmdescDevice;
  [key: string]: unknown;
}

export interface VmdescDevice {
  name?: string;
  instance_id?: number;
  vmsd_name: string;
  version: number;
  fields?: VmdescField[];
  subsections?: VmdescDevice[];
}

export interface Vmdesc {
  configuration?: VmdescDevice;
  page_size: number;
  devices: VmdescDevice[];
}

export interface LocatedVmdesc {
  /** offset of the 0x06 byte */
  offset: bigint;
  length: number;
  json: string;
  value: Vmdesc;
}

/** Largest vmdesc we read (a q35 machine's is a few hundred KiB). */
export const MAX_VMDESC = 16 * 1024 * 1024;
/** How far from the end we look, as analyze-migration.py does (10 MiB). */
const SEARCH_WINDOW = 10 * 1024 * 1024;

export function parseVmdescJson(json: string, offset: bigint): Vmdesc {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new MappedRamError("ERR_BAD_VMDESC", {
      subject: "vmdesc",
      offset,
      rule: `must be valid JSON (${(e as Error).message})`,
    });
  }
  if (typeof v !== "object" || v === null || !Array.isArray((v as { devices?: unknown }).devices)) {
    throw new MappedRamError("ERR_BAD_VMDESC", {
      subject: "vmdesc",
      offset,
      rule: 'must be an object with "devices"',
    });
  }
  return v as Vmdesc;
}

/**
 * Finds the vmdesc by looking backwards from the end of the file for `06 <be32 len> {` whose JSON
 * ends exactly at the end of the file. Returns undefined when there is none.
 */
export async function locateVmdesc(src: RandomAccessSource): Promise<LocatedVmdesc | undefined> {
  const win = src.size < BigInt(SEARCH_WINDOW) ? Number(src.size) : SEARCH_WINDOW;
  if (win < 6) return undefined;
  const base = src.size - BigInt(win);
  const buf = await src.read(base, win, "vmdesc search window");
  for (let p = win - 6; p >= 0; p--) {
    if (buf[p] !== QEMU_VM_VMDESCRIPTION || buf[p + 5] !== 0x7b) continue;
    const len = u32beAt(buf, p + 1);
    if (p + 5 + len !== win) continue;
    const json = fromLatin1(buf.subarray(p + 5));
    try {
      const value = parseVmdescJson(json, base + BigInt(p));
      return { offset: base + BigInt(p), length: len, json, value };
    } catch {
      // not JSON: keep looking
    }
  }
  return undefined;
}
