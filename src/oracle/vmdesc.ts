// migration/savevm.c: qemu_loadvm_state (vmdesc tail), migration/vmstate.c: vmsd_desc_field_end;
// scripts/analyze-migration.py: read_migration_debug_json.
//
// | bytes | field                                  |
// |-------|----------------------------------------|
// | 1     | 0x06 QEMU_VM_VMDESCRIPTION (after EOF) |
// | 4     | be32 JSON length                       |
// | len   | JSON, no NUL, no newline; file ends    |
//
// A field's "size" is the number of bytes vmstate_save_state_v wrote for one element; with
// "array_len" it is the first element's size only, so arrays are summed only for fixed-size types.
import { u32be } from "./bytes.js";
import { Section, VMDESC_MAX_PARSE, VMDESC_SEARCH_WINDOW } from "./constants.js";
import { type ByteSource, readRange } from "./source.js";

export interface Vmdesc {
  /** the 0x06 byte */
  readonly typeOffset: bigint;
  readonly jsonOffset: bigint;
  readonly length: bigint;
  /** the parsed JSON object, when it parses */
  readonly json: Record<string, unknown> | undefined;
  /** why it does not parse (JSON error, not an object, too large, out of file) */
  readonly error: string | undefined;
}

const CHUNK = 64 * 1024;

/**
 * Find the vmdesc from the end of the file as analyze-migration.py does: in the last 10 MiB, the
 * last NUL byte, then the first `{` after it; the byte 5 before the `{` must be 0x06 and the be32
 * before the `{` is the length. Reads in chunks; undefined when it does not find one.
 */
export async function locateVmdesc(src: ByteSource): Promise<Vmdesc | undefined> {
  const size = src.size;
  const windowStart = size > VMDESC_SEARCH_WINDOW ? size - VMDESC_SEARCH_WINDOW : 0n;
  let nul: bigint | undefined;
  for (let end = size; end > windowStart && nul === undefined; ) {
    const start = end - BigInt(CHUNK) > windowStart ? end - BigInt(CHUNK) : windowStart;
    const buf = await readRange(src, start, Number(end - start));
    if (buf === undefined) return undefined;
    const i = buf.lastIndexOf(0);
    if (i >= 0) nul = start + BigInt(i);
    end = start;
  }
  // Python's data.find(b'{', -1) searches from the end when no NUL was found; then there is no vmdesc.
  if (nul === undefined) return undefined;
  let brace: bigint | undefined;
  for (let at = nul; at < size && brace === undefined; at += BigInt(CHUNK)) {
    const len = size - at < BigInt(CHUNK) ? Number(size - at) : CHUNK;
    const buf = await readRange(src, at, len);
    if (buf === undefined) return undefined;
    const i = buf.indexOf(0x7b);
    if (i >= 0) brace = at + BigInt(i);
  }
  if (brace === undefined || brace < 5n) return undefined;
  const head = await readRange(src, brace - 5n, 5);
  if (head === undefined || head[0] !== Section.VMDESCRIPTION) return undefined;
  return readVmdesc(src, brace - 5n, BigInt(u32be(head, 1)));
}

/** Read and parse the vmdesc whose 0x06 byte is at `typeOffset` with the given JSON length. */
export async function readVmdesc(src: ByteSource, typeOffset: bigint, length: bigint): Promise<Vmdesc> {
  const jsonOffset = typeOffset + 5n;
  const base = { typeOffset, jsonOffset, length };
  if (jsonOffset + length > src.size) {
    return { ...base, json: undefined, error: "the JSON runs past the end of the file" };
  }
  if (length > BigInt(VMDESC_MAX_PARSE)) {
    return { ...base, json: undefined, error: `the JSON is larger than ${VMDESC_MAX_PARSE} bytes` };
  }
  const bytes = await readRange(src, jsonOffset, Number(length));
  if (bytes === undefined) return { ...base, json: undefined, error: "the JSON cannot be read" };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    return { ...base, json: undefined, error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isObject(value)) return { ...base, json: undefined, error: "the JSON is not an object" };
  return { ...base, json: value, error: undefined };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The stream shape of one VMState as the vmdesc describes it. */
export interface VmstateShape {
  /** bytes of the fields, before any subsection */
  readonly fieldsSize: bigint;
  readonly subsections: readonly {
    readonly name: string;
    readonly version: number;
    readonly shape: VmstateShape;
  }[];
}

/**
 * Types whose every element has the same stream size, so `size * array_len` is exact. ("tmp" is
 * VMSTATE_WITH_TMP, e.g. x86 fpregs.) A wrong guess cannot fail a file: for a device the oracle does
 * not know itself, a size that does not end at the section footer is reported as `device.cannotWalk`.
 */
const FIXED_TYPES = new Set([
  "bool",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "int32 equal",
  "int32 le",
  "uint8 equal",
  "uint16 equal",
  "uint32 equal",
  "uint64 equal",
  "float64",
  "buffer",
  "unused_buffer",
  "timer",
  "cpu_float64",
  "tmp",
]);

function fieldSize(field: unknown): bigint | undefined {
  if (!isObject(field)) return undefined;
  const size = field.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return undefined;
  const count = field.array_len;
  if (count === undefined) return BigInt(size);
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) return undefined;
  if (count <= 1) return BigInt(size) * BigInt(count);
  return isFixed(field) ? BigInt(size) * BigInt(count) : undefined;
}

/** Whether every element of the field has the same size: a fixed type, or a struct of fixed fields. */
function isFixed(field: Record<string, unknown>): boolean {
  const struct = field.struct;
  if (!isObject(struct)) return typeof field.type === "string" && FIXED_TYPES.has(field.type);
  const fields = struct.fields ?? [];
  const subs = struct.subsections ?? [];
  return (
    Array.isArray(fields) &&
    Array.isArray(subs) &&
    subs.length === 0 &&
    fields.every((f) => isObject(f) && isFixed(f))
  );
}

/** The shape of a vmsd description (`fields`, `subsections`), or undefined if it is not simple. */
export function shapeOf(desc: unknown): VmstateShape | undefined {
  if (!isObject(desc)) return undefined;
  const fields = desc.fields ?? [];
  if (!Array.isArray(fields)) return undefined;
  let fieldsSize = 0n;
  for (const f of fields) {
    const s = fieldSize(f);
    if (s === undefined) return undefined;
    fieldsSize += s;
  }
  const subs = desc.subsections ?? [];
  if (!Array.isArray(subs)) return undefined;
  const subsections: { name: string; version: number; shape: VmstateShape }[] = [];
  for (const sub of subs) {
    if (!isObject(sub) || typeof sub.vmsd_name !== "string" || typeof sub.version !== "number")
      return undefined;
    const shape = shapeOf(sub);
    if (shape === undefined) return undefined;
    subsections.push({ name: sub.vmsd_name, version: sub.version, shape });
  }
  return { fieldsSize, subsections };
}

/** The vmdesc entries of `devices`, in order. */
export function vmdescDevices(json: Record<string, unknown> | undefined): Record<string, unknown>[] {
  const devices = json?.devices;
  return Array.isArray(devices) ? devices.filter(isObject) : [];
}
