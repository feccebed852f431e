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
  // The device entries are looked up and summed before any walk (findDeviceDesc, flatPayloadSize): their
  // shape is checked here; what lies deeper is checked by the VMState walker as it goes.
  const devices = (v as { devices: unknown[] }).devices;
  for (const [i, d] of devices.entries()) {
    const problem = deviceEntryProblem(d);
    if (problem !== undefined) {
      throw new MappedRamError("ERR_BAD_VMDESC", {
        subject: "vmdesc",
        offset,
        field: `devices[${i}]`,
        rule: problem,
      });
    }
  }
  return v as Vmdesc;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/** What is wrong with a "devices" entry, or undefined when it has the shape of a device description. */
function deviceEntryProblem(d: unknown): string | undefined {
  if (!isObject(d)) return "must be an object";
  for (const key of ["name", "vmsd_name"] as const) {
    if (d[key] !== undefined && typeof d[key] !== "string") return `${key} must be a string`;
  }
  for (const key of ["instance_id", "version"] as const) {
    if (d[key] !== undefined && typeof d[key] !== "number") return `${key} must be a number`;
  }
  for (const key of ["fields", "subsections"] as const) {
    const list = d[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return `${key} must be an array`;
    if (!list.every(isObject)) return `${key} must hold objects`;
  }
  return undefined;
}

/** The first window read from the end; it grows ×4 up to SEARCH_WINDOW (a vmdesc is usually a few KiB). */
const FIRST_WINDOW = 64 * 1024;

/**
 * Finds the vmdesc by looking backwards from the end of the file for `06 <be32 len> {` whose JSON
 * ends exactly at the end of the file. Returns undefined when there is none. Reads the last 64 KiB
 * first and only reads more (up to 10 MiB) when the vmdesc does not start there.
 */
export async function locateVmdesc(src: RandomAccessSource): Promise<LocatedVmdesc | undefined> {
  const limit = src.size < BigInt(SEARCH_WINDOW) ? Number(src.size) : SEARCH_WINDOW;
  if (limit < 6) return undefined;
  // candidates are tried nearest the end first, as one scan over the whole window would: `tried` is the
  // distance from the end of the file up to which they have been
  let tried = 5;
  for (let win = Math.min(FIRST_WINDOW, limit); ; win = Math.min(win * 4, limit)) {
    const base = src.size - BigInt(win);
    const buf = await src.read(base, win, "vmdesc search window");
    for (let p = win - tried - 1; p >= 0; p--) {
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
    tried = win;
    if (win === limit) return undefined;
  }
}
