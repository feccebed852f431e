// migration/vmstate.c: vmstate_save_state for SECTION_FULL device records. Sizes come from the
// file's own vmdesc; the -M none devices (timer, globalstate) are also known without it.
import { fromLatin1, i64beAt, u32beAt } from "./bytes.js";

import { MappedRamError } from "./errors.js";
import type { SectionId } from "./sections.js";
import type { Vmdesc, VmdescDevice } from "./vmdesc.js";

/** Decoded fields of a device we understand, for `inspect --device`. */
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

/** How long a device section's payload is, from the fixed table or the vmdesc. */
export function devicePayloadSize(s: SectionId, vmdesc: Vmdesc | undefined, offset: bigint): number {
  const desc = findDeviceDesc(vmdesc, s);
  if (desc) {
    const n = flatPayloadSize(desc);
    if (n !== undefined) return n;
  }
  const fixed = FIXED[s.idstr];
  if (fixed && fixed.version === s.versionId && !desc) return fixed.size;
  throw new MappedRamError("ERR_UNDECODABLE", {
    subject: `device section "${s.idstr}" instance ${s.instanceId}`,
    offset,
    rule: desc
      ? "has subsections or nested structures this reader cannot walk yet"
      : "is not described by the vmdesc and is not a known device",
  });
}

export function decodeKnownDevice(s: SectionId, payload: Uint8Array): DeviceFields | undefined {
  const fixed = FIXED[s.idstr];
  if (!fixed || fixed.version !== s.versionId || payload.length !== fixed.size) return undefined;
  return fixed.decode(payload);
}
