// migration/savevm.c: vmstate_configuration and its subsections (target-page-bits, capabilities, uuid).
//
// 07 | be32 len | name[len] | subsections*
// subsection: 05 | u8 namelen | name | be32 version_id | fields
//   configuration/target-page-bits v1: be32 bits
//   configuration/capabilities     v1: be32 caps_count, caps_count × (u8 len + QAPI name)
//   configuration/uuid             v1: 16 raw bytes
import { ByteWriter, fromLatin1, hex, latin1 } from "./bytes.js";
import { CAPABILITIES } from "./caps/names.js";
import { QEMU_VM_CONFIGURATION, QEMU_VM_SUBSECTION } from "./constants.js";
import { MappedRamError } from "./errors.js";
import type { Cursor } from "./source.js";

export const SUBSECTION_TARGET_PAGE_BITS = "configuration/target-page-bits";
export const SUBSECTION_CAPABILITIES = "configuration/capabilities";
export const SUBSECTION_UUID = "configuration/uuid";

/**
 * The capabilities QEMU 10.0 validates (should_validate_capability) in MigrationCapability enum order.
 * Only these are ever listed in the configuration section.
 */
export const VALIDATED_CAPABILITIES = ["x-ignore-shared", "mapped-ram"] as const;

/** Capability names a reader accepts: QEMU 10.0's (qapi/migration.json) plus the RFC v3 "fixed-ram" name of mapped-ram. */
export const KNOWN_CAPABILITY_NAMES: ReadonlySet<string> = new Set<string>([...CAPABILITIES, "fixed-ram"]);

export interface Configuration {
  /** MachineClass->name, e.g. "none", "pc-i440fx-10.0" */
  machineName: string;
  /** present only when the target's page bits exceed its minimum (never on x86) */
  targetPageBits?: number;
  /** listed capabilities, in stream order */
  capabilities: string[];
  /** 16 raw bytes, present with -uuid and validate-uuid */
  uuid?: Uint8Array;
}

export interface DecodedConfiguration extends Configuration {
  /** file offset of the 0x07 byte */
  offset: bigint;
  /** file offset just past the configuration */
  end: bigint;
}

/** The capabilities a save lists: the validated ones that are on, in enum order. */
export function listedCapabilities(on: ReadonlySet<string>): string[] {
  return VALIDATED_CAPABILITIES.filter((c) => on.has(c));
}

export function encodeConfiguration(cfg: Configuration): Uint8Array {
  const w = new ByteWriter();
  const name = latin1(cfg.machineName);
  w.u8(QEMU_VM_CONFIGURATION).u32be(name.length).bytes(name);
  if (cfg.targetPageBits !== undefined) {
    w.u8(QEMU_VM_SUBSECTION).countedString(SUBSECTION_TARGET_PAGE_BITS).u32be(1).u32be(cfg.targetPageBits);
  }
  if (cfg.capabilities.length > 0) {
    w.u8(QEMU_VM_SUBSECTION).countedString(SUBSECTION_CAPABILITIES).u32be(1).u32be(cfg.capabilities.length);
    for (const c of cfg.capabilities) w.countedString(c);
  }
  if (cfg.uuid !== undefined) {
    if (cfg.uuid.length !== 16) throw new RangeError("uuid must be 16 bytes");
    w.u8(QEMU_VM_SUBSECTION).countedString(SUBSECTION_UUID).u32be(1).bytes(cfg.uuid);
  }
  return w.finish();
}

/** Longest machine name we accept (QEMU names are short; this bounds the allocation). */
const MAX_MACHINE_NAME = 256;
/** QEMU has ~22 capabilities; anything far above is garbage. */
const MAX_CAPS = 64;

export async function decodeConfiguration(c: Cursor): Promise<DecodedConfiguration> {
  const subject = "configuration section";
  const offset = c.pos;
  const type = await c.u8(subject, "type");
  if (type !== QEMU_VM_CONFIGURATION) {
    throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
      subject,
      offset,
      field: "type",
      rule: `must be QEMU_VM_CONFIGURATION ${hex(QEMU_VM_CONFIGURATION)}`,
      expected: hex(QEMU_VM_CONFIGURATION),
      actual: hex(type),
    });
  }
  const lenAt = c.pos;
  const len = await c.u32be(subject, "len");
  if (len > MAX_MACHINE_NAME) {
    throw new MappedRamError("ERR_TOO_LARGE", {
      subject,
      offset: lenAt,
      field: "len",
      rule: `must be at most ${MAX_MACHINE_NAME}`,
      actual: String(len),
    });
  }
  const machineName = fromLatin1(await c.take(len, subject, "name"));
  const cfg: DecodedConfiguration = { machineName, capabilities: [], offset, end: 0n };
  const seen = new Set<string>();
  while ((await c.peekU8(subject)) === QEMU_VM_SUBSECTION) {
    const subAt = c.pos;
    await c.u8(subject);
    const name = fromLatin1(await c.countedBytes(subject, "subsection name"));
    const verAt = c.pos;
    const version = await c.u32be(`subsection "${name}"`, "version_id");
    if (
      seen.has(name) ||
      ![SUBSECTION_TARGET_PAGE_BITS, SUBSECTION_CAPABILITIES, SUBSECTION_UUID].includes(name)
    ) {
      throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
        subject,
        offset: subAt,
        field: "subsection",
        rule: seen.has(name) ? `subsection "${name}" appears twice` : `unknown subsection "${name}"`,
        actual: name,
      });
    }
    seen.add(name);
    if (version !== 1) {
      throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
        subject: `subsection "${name}"`,
        offset: verAt,
        field: "version_id",
        rule: "must be 1",
        expected: "1",
        actual: String(version),
      });
    }
    if (name === SUBSECTION_TARGET_PAGE_BITS) {
      cfg.targetPageBits = await c.u32be(`subsection "${name}"`, "target_page_bits");
    } else if (name === SUBSECTION_CAPABILITIES) {
      const countAt = c.pos;
      const count = await c.u32be(`subsection "${name}"`, "caps_count");
      if (count > MAX_CAPS) {
        throw new MappedRamError("ERR_TOO_LARGE", {
          subject: `subsection "${name}"`,
          offset: countAt,
          field: "caps_count",
          rule: `must be at most ${MAX_CAPS}`,
          actual: String(count),
        });
      }
      for (let i = 0; i < count; i++) {
        const capAt = c.pos;
        const cap = fromLatin1(await c.countedBytes(`subsection "${name}"`, "capability"));
        if (!KNOWN_CAPABILITY_NAMES.has(cap)) {
          throw new MappedRamError("ERR_INVALID_VALUE", {
            subject: `subsection "${name}"`,
            offset: capAt,
            field: "capability",
            rule: "must name a migration capability",
            actual: JSON.stringify(cap),
          });
        }
        cfg.capabilities.push(cap);
      }
    } else {
      cfg.uuid = (await c.take(16, `subsection "${name}"`, "uuid")).slice();
    }
  }
  cfg.end = c.pos;
  return cfg;
}

/** True when the listed capabilities say the RAM section is mapped-ram (either the 9.0+ or the RFC name). */
export function isMappedRam(cfg: Configuration): boolean {
  return cfg.capabilities.includes("mapped-ram") || cfg.capabilities.includes("fixed-ram");
}
