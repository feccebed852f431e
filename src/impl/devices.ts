// migration/savevm.c: vmstate_save for SECTION_FULL device records, decoded with the VMState walker
// (src/impl/vmstate) driven by the file's own vmdesc. Without a vmdesc only the -M none devices
// (timer, globalstate) are known, from a fixed table.
import { fromLatin1, hex, i64beAt, u32beAt } from "./bytes.js";
import { MappedRamError } from "./errors.js";
import type { ParsedStream, SectionRecord } from "./reader.js";
import type { SectionId } from "./sections.js";
import { MAX_STRUCTURE_READ, type RandomAccessSource } from "./source.js";
import { type LocatedVmdesc, locateVmdesc, type Vmdesc, type VmdescDevice } from "./vmdesc.js";
import type { VmProblem, VmStruct } from "./vmstate/types.js";
import { NeedMoreBytes, walkVmState } from "./vmstate/walk.js";

/** Decoded fields of a device we understand, for `inspect` (timer and globalstate). */
export type DeviceFields = Record<string, string | number | boolean>;

const FIXED: Record<string, { version: number; size: number; decode: (p: Uint8Array) => DeviceFields }> = {
  timer: {
    version: 2,
    size: 24,
    decode: (p) => ({
      cpu_ticks_offset: i64beAt(p, 0).toString(),
      cpu_clock_offset: i64beAt(p, 16).toString(),
    }),
  },
  globalstate: {
    version: 1,
    size: 104,
    decode: (p) => {
      const size = u32beAt(p, 0);
      const rs = p.subarray(4, 36);
      const nul = rs.indexOf(0);
      return {
        size,
        runstate: fromLatin1(rs.subarray(0, nul < 0 ? 32 : nul)),
        has_vm_was_suspended: p[36] === 1,
        vm_was_suspended: p[37] === 1,
      };
    },
  },
};

/** The vmdesc entry describing a section, by name and instance id. */
export function findDeviceDesc(vmdesc: Vmdesc | undefined, s: SectionId): VmdescDevice | undefined {
  return vmdesc?.devices.find((d) => d.name === s.idstr && d.instance_id === s.instanceId);
}

/**
 * Payload length of a flat device description (fields with fixed sizes, no subsections), or
 * undefined when the description needs a full VMState walk.
 */
export function flatPayloadSize(desc: VmdescDevice): number | undefined {
  if (desc.subsections && desc.subsections.length > 0) return undefined;
  let n = 0;
  for (const f of desc.fields ?? []) {
    if (typeof f.size !== "number" || f.struct !== undefined) return undefined;
    n += f.size * (typeof f.array_len === "number" ? f.array_len : 1);
  }
  return n;
}

/**
 * Payload length without reading the payload: the fixed table, or a flat vmdesc entry. For streams that
 * cannot be read at random (sockets); everything else uses devicePayloadLength, which walks the bytes.
 */
export function devicePayloadSize(s: SectionId, vmdesc: Vmdesc | undefined, offset: bigint): number {
  const desc = findDeviceDesc(vmdesc, s);
  if (desc) {
    const n = flatPayloadSize(desc);
    if (n !== undefined) return n;
  }
  const fixed = FIXED[s.idstr];
  if (fixed && fixed.version === s.versionId && !desc) return fixed.size;
  throw new MappedRamError("ERR_UNDECODABLE", {
    subject: subjectOf(s),
    offset,
    rule: desc
      ? "has subsections or nested structures; walk it with devicePayloadLength or walkVmState"
      : "is not described by the vmdesc and is not a known device",
  });
}

/** One device payload, walked. */
export interface DeviceWalk {
  section: SectionId;
  /** file offset of the payload */
  offset: bigint;
  /** payload bytes (undefined when a fatal problem left the length unknown) */
  length: number | undefined;
  /** the vmdesc entry that drove the walk; absent when the fixed table was used */
  desc?: VmdescDevice;
  /** the decoded fields (absent for the fixed table and after a fatal problem) */
  root?: VmStruct;
  problems: VmProblem[];
}

function subjectOf(s: SectionId): string {
  return `device section "${s.idstr}" instance ${s.instanceId}`;
}

/**
 * Walks the payload of device section `s` that starts at `at`. With `end` the payload range is known
 * (a parsed record) and a walk that stops elsewhere is a problem; without it the walk decides the length
 * and reads as much of the file as it needs.
 */
export async function walkDevicePayload(
  src: RandomAccessSource,
  at: bigint,
  s: SectionId,
  vmdesc: Vmdesc | undefined,
  end?: bigint,
): Promise<DeviceWalk> {
  const desc = findDeviceDesc(vmdesc, s);
  if (!desc) {
    const fixed = FIXED[s.idstr];
    if (fixed && fixed.version === s.versionId) {
      return { section: s, offset: at, length: fixed.size, problems: [] };
    }
    return {
      section: s,
      offset: at,
      length: undefined,
      problems: [
        {
          offset: at,
          path: s.idstr,
          message: vmdesc
            ? "is not described by the vmdesc"
            : "cannot be decoded without a vmdesc (the file has none) and is not a known device",
          fatal: true,
        },
      ],
    };
  }
  const left = src.size > at ? src.size - at : 0n;
  if (end !== undefined) {
    const n = end - at;
    const bytes = await src.read(at, Number(n), subjectOf(s));
    const w = walkVmState(desc, bytes, at, true);
    const out: DeviceWalk = {
      section: s,
      offset: at,
      length: w.length,
      desc,
      root: w.root,
      problems: w.problems,
    };
    if (w.length !== undefined && BigInt(w.length) !== n) {
      out.problems.push({
        offset: at + BigInt(w.length),
        path: s.idstr,
        message: `the vmdesc walk ends after ${w.length} bytes but the section payload has ${n}`,
        fatal: true,
      });
    }
    return out;
  }
  let win = 16 * 1024;
  for (;;) {
    const final = BigInt(win) >= left || win >= MAX_STRUCTURE_READ;
    const n = final ? Number(left < BigInt(MAX_STRUCTURE_READ) ? left : BigInt(MAX_STRUCTURE_READ)) : win;
    const bytes = await src.read(at, n, subjectOf(s));
    try {
      const w = walkVmState(desc, bytes, at, final);
      return { section: s, offset: at, length: w.length, desc, root: w.root, problems: w.problems };
    } catch (e) {
      if (!(e instanceof NeedMoreBytes) || final) throw e;
      win *= 4;
    }
  }
}

/**
 * How long a device section's payload is: walks it with the vmdesc entry (or the fixed table without a
 * vmdesc). Throws ERR_UNDECODABLE, at the offset of the first fatal problem, when it cannot tell.
 */
export async function devicePayloadLength(
  src: RandomAccessSource,
  at: bigint,
  s: SectionId,
  vmdesc: Vmdesc | undefined,
): Promise<number> {
  const w = await walkDevicePayload(src, at, s, vmdesc);
  if (w.length !== undefined) return w.length;
  const p = w.problems.find((x) => x.fatal);
  throw new MappedRamError("ERR_UNDECODABLE", {
    subject: subjectOf(s),
    offset: p?.offset ?? at,
    ...(p ? { field: p.path } : {}),
    rule: p?.message ?? "cannot be walked",
  });
}

export function decodeKnownDevice(s: SectionId, payload: Uint8Array): DeviceFields | undefined {
  const fixed = FIXED[s.idstr];
  if (!fixed || fixed.version !== s.versionId || payload.length !== fixed.size) return undefined;
  return fixed.decode(payload);
}

/** A disagreement between the stream and its vmdesc, or a device section that did not decode. */
export interface VmdescFinding {
  offset: bigint;
  message: string;
}

export interface DeviceSectionsCheck {
  /** every SECTION_FULL device record, walked over its payload, in stream order */
  devices: DeviceWalk[];
  /** the vmdesc found from the end of the file, as analyze-migration.py finds it */
  located?: LocatedVmdesc;
  findings: VmdescFinding[];
}

/**
 * Walks every device section of a parsed stream and cross-checks the vmdesc against the walk: the vmdesc
 * located from the end of the file is the one after EOF, its "devices" are the FULL sections in stream
 * order (name, instance_id, version), and every payload decodes to exactly its length.
 */
export async function checkDeviceSections(
  src: RandomAccessSource,
  stream: ParsedStream,
): Promise<DeviceSectionsCheck> {
  const findings: VmdescFinding[] = [];
  const located = await locateVmdesc(src);
  const walked = stream.vmdesc;
  if (walked && (!located || located.offset !== walked.offset || located.length !== walked.length)) {
    findings.push({
      offset: walked.offset,
      message: `the vmdesc after EOF (at ${hex(walked.offset)}) is not the one found from the end of the file${located ? ` (at ${hex(located.offset)})` : ""}`,
    });
  }
  if (!walked && located) {
    findings.push({
      offset: located.offset,
      message: "a vmdesc is found from the end of the file but the stream does not lead to it after EOF",
    });
  }
  const vmdesc = walked?.value ?? located?.value;
  const devices: DeviceWalk[] = [];
  const full = stream.records.filter(
    (r): r is SectionRecord => r.kind === "section" && r.type === "full" && r.ram === undefined,
  );
  for (const r of full) {
    const w = await walkDevicePayload(src, r.payloadOffset, r.section, vmdesc, r.payloadEnd);
    devices.push(w);
    for (const p of w.problems) {
      findings.push({ offset: p.offset, message: `${subjectOf(r.section)}: ${p.path}: ${p.message}` });
    }
  }
  if (vmdesc) {
    const descs = Array.isArray(vmdesc.devices) ? vmdesc.devices : [];
    const n = Math.max(descs.length, full.length);
    for (let i = 0; i < n; i++) {
      const d = descs[i];
      const r = full[i];
      if (!r) {
        findings.push({
          offset: walked?.offset ?? located?.offset ?? 0n,
          message: `vmdesc device ${i} "${d?.name}" instance ${d?.instance_id} has no SECTION_FULL record`,
        });
      } else if (!d) {
        findings.push({ offset: r.offset, message: `${subjectOf(r.section)} is not in the vmdesc devices` });
      } else if (d.name !== r.section.idstr || d.instance_id !== r.section.instanceId) {
        findings.push({
          offset: r.offset,
          message: `${subjectOf(r.section)} is device ${i} of the stream but the vmdesc has "${d.name}" instance ${d.instance_id} there`,
        });
      } else if (d.version !== r.section.versionId) {
        findings.push({
          offset: r.offset,
          message: `${subjectOf(r.section)} has version_id ${r.section.versionId} but the vmdesc version is ${d.version}`,
        });
      }
    }
  }
  return { devices, ...(located ? { located } : {}), findings };
}
