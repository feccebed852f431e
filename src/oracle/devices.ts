// migration/savevm.c: vmstate_save / qemu_loadvm_section_start_full for device (FULL) sections.
//
// A device payload is a VMState: its fields, then its subsections (0x05, u8 len, name, be32
// version, fields...). Sizes come from the vmdesc (see vmdesc.ts); without one, the oracle knows
// the two devices of `-M none` on QEMU 10.0.2 x86_64:
//
// | idstr       | version | payload | fields                                                        |
// |-------------|---------|---------|---------------------------------------------------------------|
// | timer       | 2       | 24      | i64 cpu_ticks_offset, 8 unused, i64 cpu_clock_offset          |
// | globalstate | 1       | 104     | be32 size, runstate[32], u8 has_vm_was_suspended, u8, 66 zero |
import { latin1, quote } from "./bytes.js";
import { RUN_STATES, Section } from "./constants.js";
import type { StreamReader } from "./reader.js";
import { shapeOf, type VmstateShape, vmdescDevices } from "./vmdesc.js";
import type { Walk } from "./walk.js";

interface KnownDevice {
  readonly version: number;
  readonly payload: bigint;
}

const KNOWN_DEVICES: ReadonlyMap<string, KnownDevice> = new Map([
  ["timer", { version: 2, payload: 24n }],
  ["globalstate", { version: 1, payload: 104n }],
]);

export interface DeviceHeader {
  readonly offset: bigint;
  readonly idstr: string;
  readonly instanceId: number;
  readonly versionAt: bigint;
  readonly version: number;
}

/**
 * `walked`: payload consumed, footer next. `trusted` says whether a footer that does not follow is
 * the file's fault (a known device) or maybe ours (a size taken from the vmdesc of an unknown one).
 */
export type DeviceStep =
  | { readonly status: "walked"; readonly trusted: boolean }
  | { readonly status: "stop" };

function vmdescEntry(w: Walk, idstr: string, instanceId: number): Record<string, unknown> | undefined {
  for (const d of vmdescDevices(w.vmdesc?.json)) {
    if (d.name === idstr && d.instance_id === instanceId && !w.vmdescTaken.has(d)) {
      w.vmdescTaken.add(d);
      return d;
    }
  }
  return undefined;
}

export function cannotWalk(w: Walk, at: bigint, idstr: string, why: string): { status: "stop" } {
  w.report("device.cannotWalk", at, {
    subject: `device section ${quote(idstr)}`,
    field: "payload",
    rule: `cannot be walked (${why}); rest of stream not checked`,
  });
  return { status: "stop" };
}

export async function walkDevice(w: Walk, r: StreamReader, h: DeviceHeader): Promise<DeviceStep> {
  const known = KNOWN_DEVICES.get(h.idstr);
  const entry = vmdescEntry(w, h.idstr, h.instanceId);
  const shape = entry === undefined ? undefined : shapeOf(entry);
  if (known !== undefined && h.version > known.version) {
    w.report("device.version.unsupported", h.versionAt, {
      subject: `device section ${quote(h.idstr)}`,
      field: "version_id",
      rule: `must be at most ${known.version}`,
      expected: String(known.version),
      actual: String(h.version),
    });
  }
  let plan: VmstateShape;
  let trusted: boolean;
  if (shape !== undefined) {
    plan = shape;
    trusted = known !== undefined && shape.subsections.length === 0 && shape.fieldsSize === known.payload;
  } else if (known !== undefined && entry === undefined) {
    plan = { fieldsSize: known.payload, subsections: [] };
    trusted = true;
  } else {
    if (entry === undefined && w.vmdesc !== undefined) {
      // QEMU describes every section it writes in the vmdesc: one it does not list was not written by
      // this QEMU, and a loader without such a handler refuses it (find_se: Unknown savevm section)
      w.report("device.notInVmdesc", h.offset, {
        subject: `device section ${quote(h.idstr)} instance ${h.instanceId}`,
        field: "idstr",
        rule: "must be described by the file's vmdesc, as every section QEMU writes is",
      });
    }
    const why =
      entry === undefined ? "the vmdesc does not describe it" : "its vmdesc has fields of variable size";
    return cannotWalk(w, h.offset, h.idstr, why);
  }
  if (h.idstr === "globalstate" && trusted && (await checkRunstate(w, r)) === "stop")
    return { status: "stop" };
  if (!(await walkShape(w, r, plan, h.idstr, trusted))) return { status: "stop" };
  return { status: "walked", trusted };
}

async function walkShape(
  w: Walk,
  r: StreamReader,
  shape: VmstateShape,
  idstr: string,
  trusted: boolean,
): Promise<boolean> {
  if (shape.fieldsSize > r.remaining) {
    // A size from the vmdesc of a device we do not know may be our misreading, not a short file.
    if (trusted) w.truncated(r.pos, shape.fieldsSize, `device section ${quote(idstr)}`, "fields");
    else cannotWalk(w, r.pos, idstr, "its vmdesc size runs past the end of the file");
    return false;
  }
  r.seek(r.pos + shape.fieldsSize);
  for (const sub of shape.subsections) {
    const at = r.pos;
    const type = await r.u8();
    const name = await r.counted();
    const version = await r.u32be();
    if (type !== Section.SUBSECTION || name !== sub.name || version === undefined) {
      cannotWalk(w, at, idstr, `subsection ${quote(sub.name)} described by the vmdesc is not there`);
      return false;
    }
    if (!(await walkShape(w, r, sub.shape, idstr, trusted))) return false;
  }
  return true;
}

/** `global_state_post_load`: the runstate (NUL-terminated in 32 bytes) must be a RunState name. */
async function checkRunstate(w: Walk, r: StreamReader): Promise<"ok" | "stop"> {
  const at = r.pos;
  const buf = await r.take(4 + 32);
  if (buf === undefined) return w.truncated(at, 36n, 'device section "globalstate"', "runstate");
  r.seek(at);
  const field = buf.subarray(4);
  const nul = field.indexOf(0);
  const runstate = latin1(field.subarray(0, nul < 0 ? field.length - 1 : nul));
  if (!RUN_STATES.includes(runstate)) {
    w.report("device.globalstate.runstate", at + 4n, {
      subject: 'device section "globalstate"',
      field: "runstate",
      rule: "must be a RunState name",
      actual: quote(runstate),
    });
  }
  return "ok";
}
