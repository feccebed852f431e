// migration/vmstate.c: vmstate_load_state / vmstate_subsection_load, driven by the file's own vmdesc (the
// JSON vmstate_save_state_v wrote while saving) instead of compiled-in VMStateDescriptions — the way
// scripts/analyze-migration.py reads device state, but checking every field against the vmdesc "size"
// (the bytes QEMU wrote for that element) and reporting what it cannot decode with its offset.
//
// vmdesc field shapes (vmsd_desc_field_start/_end):
// | keys                                  | meaning                                                      |
// | name, type, size                      | one element; size = bytes written for it                     |
// | name, array_len, type, size           | compressed array: array_len elements, described by the first  |
// | name, index, type, size               | one element of an array that cannot be compressed             |
// | …, type "struct", struct: {vmsd}      | VMS_STRUCT: the nested vmsd's fields and subsections          |
// | …, type "tmp"/"vstruct", vmsd_name, version, fields[, subsections] | nested vmsd written inline |
// QEMU 10.0.2 omits "index" on the last element of a non-compressed array (observed).
import { fromLatin1, hex, viewOf } from "../bytes.js";
import { QEMU_VM_SUBSECTION } from "../constants.js";
import type { VmdescDevice, VmdescField } from "../vmdesc.js";
import type { VmField, VmProblem, VmStruct, VmSubsection, VmValue } from "./types.js";

/** vmstate-types.c: integer VMStateInfo names → width and signedness. */
const INT_TYPES: Readonly<Record<string, { size: 1 | 2 | 4 | 8; signed: boolean }>> = {
  int8: { size: 1, signed: true },
  int16: { size: 2, signed: true },
  int32: { size: 4, signed: true },
  int64: { size: 8, signed: true },
  uint8: { size: 1, signed: false },
  uint16: { size: 2, signed: false },
  uint32: { size: 4, signed: false },
  uint64: { size: 8, signed: false },
  "int32 equal": { size: 4, signed: true },
  "int32 le": { size: 4, signed: true },
  // vmstate_info_uint64_equal is named "int64 equal" but reads a uint64
  "int64 equal": { size: 8, signed: false },
  "uint8 equal": { size: 1, signed: false },
  "uint16 equal": { size: 2, signed: false },
  "uint32 equal": { size: 4, signed: false },
  // timer_put: be64 expire time, -1 when not pending
  timer: { size: 8, signed: true },
};

/** VMS_NULLPTR_MARKER */
export const VMS_NULLPTR_MARKER = 0x30;

/** Types whose put function writes the nested vmsd's description into the field object itself. */
const INLINE_VMSD_TYPES = new Set(["tmp", "vstruct"]);
/** put_qtailq / put_qlist: 01 + element, …, 00. */
const LIST_TYPES = new Set(["qtailq", "qlist"]);

export interface VmWalk {
  /** bytes the payload occupies (undefined when a fatal problem left it unknown) */
  length: number | undefined;
  root: VmStruct;
  problems: VmProblem[];
}

/** Thrown when the window is too short and more of the file exists: the caller reads more and retries. */
export class NeedMoreBytes extends Error {
  override readonly name = "NeedMoreBytes";
}

class Fatal extends Error {
  override readonly name = "VmWalkFatal";
  constructor(
    readonly at: number,
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

type StructDesc = Pick<VmdescDevice, "vmsd_name" | "version" | "fields" | "subsections">;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Bounds for descriptions that come from the file: elements walked, and nesting of structs. */
const MAX_ELEMENTS = 1 << 20;
const MAX_DEPTH = 64;

class Walker {
  pos = 0;
  readonly problems: VmProblem[] = [];
  private elements = 0;
  private depth = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly base: bigint,
    /** `bytes` runs to the end of the file: a short read is truncation, not a reason to read more */
    private readonly final: boolean,
  ) {}

  off(at: number): bigint {
    return this.base + BigInt(at);
  }

  take(n: number, path: string): Uint8Array {
    if (!Number.isInteger(n) || n < 0) throw new Fatal(this.pos, path, `has an impossible size ${n}`);
    if (this.pos + n > this.bytes.length) {
      if (!this.final) throw new NeedMoreBytes();
      throw new Fatal(
        this.pos,
        path,
        `needs ${n} bytes but the file ends after ${this.bytes.length - this.pos}`,
      );
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(path: string): number {
    return this.take(1, path)[0] as number;
  }

  note(at: number, path: string, message: string): void {
    this.problems.push({ offset: this.off(at), path, message, fatal: false });
  }

  struct(desc: StructDesc, path: string): VmStruct {
    if (this.depth >= MAX_DEPTH) throw new Fatal(this.pos, path, `nests deeper than ${MAX_DEPTH} structs`);
    this.depth++;
    try {
      return this.structBody(desc, path);
    } finally {
      this.depth--;
    }
  }

  private structBody(desc: StructDesc, path: string): VmStruct {
    const out: VmStruct = {
      kind: "struct",
      vmsdName: typeof desc.vmsd_name === "string" ? desc.vmsd_name : "",
      version: typeof desc.version === "number" ? desc.version : 0,
      fields: [],
      subsections: [],
    };
    const fields: unknown = desc.fields ?? [];
    if (!Array.isArray(fields)) throw new Fatal(this.pos, path, 'has a vmdesc "fields" that is not an array');
    for (const f of fields) {
      if (!isObject(f) || typeof f.name !== "string" || typeof f.type !== "string") {
        throw new Fatal(this.pos, path, "has a vmdesc field without a name or type");
      }
      const field = f as VmdescField;
      const compressed = typeof field.array_len === "number";
      const n = compressed ? (field.array_len as number) : 1;
      if (!Number.isInteger(n) || n < 0 || this.elements + n > MAX_ELEMENTS) {
        throw new Fatal(
          this.pos,
          path,
          `has array_len ${n}, more than the ${MAX_ELEMENTS} elements walked at most`,
        );
      }
      for (let i = 0; i < n; i++) {
        if (++this.elements > MAX_ELEMENTS) {
          throw new Fatal(this.pos, path, `describes more than the ${MAX_ELEMENTS} elements walked at most`);
        }
        const index = compressed ? i : typeof field.index === "number" ? field.index : undefined;
        const fpath = `${path}.${field.name}${index === undefined ? "" : `[${index}]`}`;
        const start = this.pos;
        // the vmdesc size is what QEMU wrote for this element; for compressed arrays only the first is described
        const trusted = i === 0;
        const value = this.element(field, fpath, trusted);
        const f2: VmField = { name: field.name, offset: this.off(start), length: this.pos - start, value };
        if (index !== undefined) f2.index = index;
        out.fields.push(f2);
      }
    }
    const subs: unknown = desc.subsections ?? [];
    if (!Array.isArray(subs))
      throw new Fatal(this.pos, path, 'has a vmdesc "subsections" that is not an array');
    for (const s of subs) {
      if (!isObject(s) || typeof s.vmsd_name !== "string") {
        throw new Fatal(this.pos, path, "has a vmdesc subsection without a vmsd_name");
      }
      out.subsections.push(this.subsection(s as unknown as StructDesc, path));
    }
    return out;
  }

  /** vmstate_subsection_load: 05, u8 len, name, be32 version_id, then the subsection's fields. */
  subsection(desc: StructDesc, path: string): VmSubsection {
    const at = this.pos;
    const spath = `${path}/${desc.vmsd_name}`;
    const marker = this.u8(spath);
    if (marker !== QEMU_VM_SUBSECTION) {
      throw new Fatal(
        at,
        spath,
        `subsection "${desc.vmsd_name}" is in the vmdesc but the stream has ${hex(marker)} where QEMU_VM_SUBSECTION 0x5 must be`,
      );
    }
    const len = this.u8(spath);
    const name = fromLatin1(this.take(len, spath));
    if (name !== desc.vmsd_name) {
      throw new Fatal(
        at,
        spath,
        `subsection "${name}" is in the stream where the vmdesc has "${desc.vmsd_name}"`,
      );
    }
    const verAt = this.pos;
    const version = viewOf(this.take(4, spath)).getUint32(0, false);
    if (typeof desc.version === "number" && desc.version !== version) {
      this.note(verAt, spath, `version_id ${version} differs from the vmdesc version ${desc.version}`);
    }
    const body = this.struct(desc, spath);
    body.version = version;
    return { name, version, offset: this.off(at), body };
  }

  /** One element of a field. `trusted`: the vmdesc size describes exactly this element. */
  element(f: VmdescField, path: string, trusted: boolean): VmValue {
    const size = typeof f.size === "number" ? f.size : undefined;
    const start = this.pos;
    const int = INT_TYPES[f.type];
    if (int) {
      if (size !== undefined && size !== int.size) {
        this.note(start, path, `type "${f.type}" has vmdesc size ${size}, not ${int.size}; kept as bytes`);
        return { kind: "bytes", type: f.type, bytes: this.take(size, path).slice() };
      }
      const b = this.take(int.size, path);
      const v = viewOf(b);
      const raw =
        int.size === 1
          ? BigInt(b[0] as number)
          : int.size === 2
            ? BigInt(v.getUint16(0))
            : int.size === 4
              ? BigInt(v.getUint32(0))
              : v.getBigUint64(0);
      const value = int.signed ? BigInt.asIntN(int.size * 8, raw) : raw;
      return { kind: "int", type: f.type, size: int.size, signed: int.signed, value };
    }
    switch (f.type) {
      case "bool":
        if (size !== undefined && size !== 1) break;
        return { kind: "bool", raw: this.u8(path) };
      case "capability": {
        const len = this.u8(path);
        return { kind: "capability", name: fromLatin1(this.take(len, path)) };
      }
      case "nullptr":
        return this.nullptr(path);
      default:
        break;
    }
    if (f.type === "struct" && isObject(f.struct)) {
      const sd = f.struct as StructDesc;
      if (sd.fields === undefined && size === 1) {
        // a NULL element of an array of pointers described as its struct type (put_nullptr)
        return this.nullptr(path);
      }
      return this.nested(() => this.struct(sd, path), size, trusted, f, path);
    }
    if (INLINE_VMSD_TYPES.has(f.type) && Array.isArray(f.fields)) {
      return this.nested(() => this.struct(f as unknown as StructDesc, path), size, trusted, f, path);
    }
    if (LIST_TYPES.has(f.type)) {
      return this.nested(() => this.list(f, path), size, trusted, f, path);
    }
    if (size === undefined) throw new Fatal(start, path, `type "${f.type}" has no vmdesc size`);
    return { kind: "bytes", type: f.type, bytes: this.take(size, path).slice() };
  }

  nullptr(path: string): VmValue {
    const at = this.pos;
    const raw = this.u8(path);
    if (raw !== VMS_NULLPTR_MARKER) {
      this.note(at, path, `NULL pointer marker is ${hex(raw)}, not '0' (0x30)`);
    }
    return { kind: "nullptr", raw };
  }

  list(f: VmdescField, path: string): VmValue {
    const elements: VmStruct[] = [];
    for (;;) {
      const at = this.pos;
      const more = this.u8(path);
      if (more === 0) break;
      if (more !== 1) throw new Fatal(at, path, `list marker is ${hex(more)}, not 0 or 1`);
      if (!Array.isArray(f.fields))
        throw new Fatal(at, path, "has list elements but the vmdesc describes none");
      elements.push(this.struct(f as unknown as StructDesc, `${path}[${elements.length}]`));
    }
    return { kind: "list", type: f.type, elements };
  }

  /**
   * A structured element: walk it; if the walk fails or disagrees with a size that describes exactly this
   * element, keep that many bytes instead (QEMU wrote them) and say so.
   */
  nested(
    walk: () => VmValue,
    size: number | undefined,
    trusted: boolean,
    f: VmdescField,
    path: string,
  ): VmValue {
    const start = this.pos;
    const mark = this.problems.length;
    let failure: Fatal | undefined;
    try {
      const v = walk();
      if (size === undefined || !trusted || this.pos - start === size) return v;
      failure = new Fatal(start, path, `walked ${this.pos - start} bytes where the vmdesc size is ${size}`);
    } catch (e) {
      if (!(e instanceof Fatal)) throw e;
      failure = e;
    }
    if (!trusted || size === undefined) throw failure;
    this.pos = start;
    this.problems.length = mark;
    this.note(failure.at, failure.path, `${failure.message}; kept ${size} bytes of "${f.type}" as written`);
    return { kind: "bytes", type: f.type, bytes: this.take(size, path).slice() };
  }
}

/**
 * Decodes one device payload that starts at `bytes[0]` (file offset `base`) as `desc` describes it.
 * `final`: `bytes` reaches the end of the file. Throws NeedMoreBytes when the window is too short.
 */
export function walkVmState(desc: VmdescDevice, bytes: Uint8Array, base: bigint, final: boolean): VmWalk {
  const w = new Walker(bytes, base, final);
  const name = typeof desc.name === "string" ? desc.name : String(desc.vmsd_name);
  const empty: VmStruct = {
    kind: "struct",
    vmsdName: String(desc.vmsd_name),
    version: 0,
    fields: [],
    subsections: [],
  };
  try {
    const root = w.struct(desc, name);
    return { length: w.pos, root, problems: w.problems };
  } catch (e) {
    if (!(e instanceof Fatal)) throw e;
    w.problems.push({ offset: w.off(e.at), path: e.path, message: e.message, fatal: true });
    return { length: undefined, root: empty, problems: w.problems };
  }
}
