// Machine profiles: what QEMU 10.0.2 writes around the RAM section for a given machine —
// section ids (savevm.c: register_savevm_live / vmstate_register_with_alias_id), the device
// sections after RAM END (vmstate_save), SWITCHOVER_START (hw_compat_9_2) and the vmdesc JSON.
import { ByteWriter, latin1 } from "./bytes.js";
import { type Configuration, SUBSECTION_CAPABILITIES } from "./configuration.js";
import { TARGET_PAGE_SIZE } from "./constants.js";
import { type QemuJsonValue, toQemuJson } from "./qemu-json.js";
import type { SectionId } from "./sections.js";

/** One SECTION_FULL device record after RAM END, with its vmdesc "devices" entry. */
export interface DeviceSection {
  section: SectionId;
  payload: Uint8Array;
  /** the entry of vmdesc "devices" for this section */
  desc: { [key: string]: QemuJsonValue };
}

export interface MachineProfile {
  /** `-M` name as QEMU reports it in the configuration section */
  machineName: string;
  /** section id/instance/version QEMU gives the "ram" handler */
  ramSection: SectionId;
  /** MIG_CMD_SWITCHOVER_START is sent (machine types > 9.2) */
  switchoverStart: boolean;
  /** device sections written after RAM END, in order */
  devices(runstate: string): DeviceSection[];
}

function field(
  name: string,
  type: string,
  size: number,
  arrayLen?: number,
): { [key: string]: QemuJsonValue } {
  return arrayLen === undefined ? { name, type, size } : { name, array_len: arrayLen, type, size };
}

/** `timer` (cpus.c vmstate_timers v2): cpu_ticks_offset i64, 8 unused bytes, cpu_clock_offset i64. */
export function timerSection(sectionId: number, ticksOffset = 0n, clockOffset = 0n): DeviceSection {
  return {
    section: { sectionId, idstr: "timer", instanceId: 0, versionId: 2 },
    payload: new ByteWriter(24).i64be(ticksOffset).zeros(8).i64be(clockOffset).finish(),
    desc: {
      name: "timer",
      instance_id: 0,
      vmsd_name: "timer",
      version: 2,
      fields: [
        field("cpu_ticks_offset", "int64", 8),
        field("unused", "unused_buffer", 8),
        field("cpu_clock_offset", "int64", 8),
      ],
    },
  };
}

/** `globalstate` (migration/global_state.c v1): be32 size, runstate[32], has_vm_was_suspended, vm_was_suspended, 66 unused. */
export function globalStateSection(
  sectionId: number,
  runstate: string,
  vmWasSuspended = false,
): DeviceSection {
  const rs = latin1(runstate);
  if (rs.length > 31) throw new RangeError(`runstate "${runstate}" is longer than 31 bytes`);
  return {
    section: { sectionId, idstr: "globalstate", instanceId: 0, versionId: 1 },
    payload: new ByteWriter(104)
      .u32be(rs.length + 1)
      .bytes(rs)
      .zeros(32 - rs.length)
      .u8(1)
      .u8(vmWasSuspended ? 1 : 0)
      .zeros(66)
      .finish(),
    desc: {
      name: "globalstate",
      instance_id: 0,
      vmsd_name: "globalstate",
      version: 1,
      fields: [
        field("size", "uint32", 4),
        field("runstate", "buffer", 32),
        field("has_vm_was_suspended", "uint8", 1),
        field("vm_was_suspended", "uint8", 1),
        field("unused", "buffer", 66),
      ],
    },
  };
}

/** QEMU 10.0.2 `-M none` on x86_64: timer = 0, ram = 1, globalstate = 3 (id 2 writes nothing). */
export const MACHINE_NONE: MachineProfile = {
  machineName: "none",
  ramSection: { sectionId: 1, idstr: "ram", instanceId: 0, versionId: 4 },
  switchoverStart: true,
  devices: (runstate) => [timerSection(0), globalStateSection(3, runstate)],
};

export const MACHINES: Readonly<Record<string, MachineProfile>> = { none: MACHINE_NONE };

/** The "configuration" entry of the vmdesc, as vmstate_save_state_v describes vmstate_configuration. */
export function configurationDesc(cfg: Configuration): { [key: string]: QemuJsonValue } {
  const desc: { [key: string]: QemuJsonValue } = {
    vmsd_name: "configuration",
    version: 1,
    fields: [field("len", "uint32", 4), field("name", "buffer", latin1(cfg.machineName).length)],
  };
  const subs: QemuJsonValue[] = [];
  if (cfg.targetPageBits !== undefined) {
    subs.push({
      vmsd_name: "configuration/target-page-bits",
      version: 1,
      fields: [field("target_page_bits", "uint32", 4)],
    });
  }
  const first = cfg.capabilities[0];
  if (first !== undefined) {
    const n = cfg.capabilities.length;
    // For a variable array QEMU describes the first element only; array_len only when > 1.
    subs.push({
      vmsd_name: SUBSECTION_CAPABILITIES,
      version: 1,
      fields: [
        field("caps_count", "uint32", 4),
        field("capabilities", "capability", 1 + latin1(first).length, n > 1 ? n : undefined),
      ],
    });
  }
  if (cfg.uuid !== undefined) {
    subs.push({ vmsd_name: "configuration/uuid", version: 1, fields: [field("uuid", "buffer", 16)] });
  }
  if (subs.length > 0) desc.subsections = subs;
  return desc;
}

/** The whole vmdesc JSON for a configuration and its device sections. */
export function vmdescJson(cfg: Configuration, devices: readonly DeviceSection[]): string {
  return toQemuJson({
    configuration: configurationDesc(cfg),
    page_size: TARGET_PAGE_SIZE,
    devices: devices.map((d) => d.desc),
  });
}
