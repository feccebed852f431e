// migration/savevm.c: qemu_savevm_state_header, vmstate_configuration (+ subsections), qemu_loadvm_state_header.
//
// | bytes   | field                                                        |
// |---------|--------------------------------------------------------------|
// | 4       | be32 magic 0x5145564d "QEVM"                                 |
// | 4       | be32 version 3                                               |
// | 1       | 0x07 QEMU_VM_CONFIGURATION                                   |
// | 4 + len | be32 machine name length, name bytes                         |
// | ...     | subsections: 0x05, u8 len, name, be32 version 1, fields:     |
// |         |   configuration/target-page-bits: be32 bits                  |
// |         |   configuration/capabilities: be32 count, count × (u8, name) |
// |         |   configuration/uuid: 16 bytes                               |
import { hex, isPrintableName, latin1, quote, u32be } from "./bytes.js";
import {
  CAPABILITIES,
  FILE_MAGIC,
  FILE_VERSION,
  PAGE_BITS,
  Section,
  VALIDATED_CAPABILITIES,
} from "./constants.js";
import type { StreamReader } from "./reader.js";
import type { Step, Walk } from "./walk.js";

const SUBJECT = "configuration section";
/** QEMU machine type names are short; anything longer is not a name. */
const MAX_MACHINE_NAME = 256;

/** Magic, version and configuration. Leaves the reader at the first section record. */
export async function walkPreamble(w: Walk, r: StreamReader): Promise<Step> {
  const head = await r.take(8);
  if (head === undefined) return w.truncated(r.pos, 8n, "stream header", "magic and version");
  const magic = u32be(head, 0);
  if (magic !== FILE_MAGIC) {
    w.report("stream.magic.invalid", w.start, {
      subject: "stream header",
      field: "magic",
      rule: `must be ${hex(FILE_MAGIC)} ("QEVM")`,
      expected: hex(FILE_MAGIC),
      actual: hex(magic),
    });
    return "stop";
  }
  const version = u32be(head, 4);
  if (version !== FILE_VERSION) {
    w.report("stream.version.unsupported", w.start + 4n, {
      subject: "stream header",
      field: "version",
      rule: `must be ${FILE_VERSION}`,
      expected: String(FILE_VERSION),
      actual: String(version),
    });
    return "stop";
  }
  const configOffset = r.pos;
  const type = await r.peekU8();
  if (type === undefined) return w.truncated(r.pos, 1n, SUBJECT, "section type");
  if (type !== Section.CONFIGURATION) {
    w.report("config.missing", configOffset, {
      subject: SUBJECT,
      field: "section type",
      rule: `must be ${hex(Section.CONFIGURATION)} (QEMU_VM_CONFIGURATION)`,
      expected: hex(Section.CONFIGURATION),
      actual: hex(type),
    });
    // Walk on as if the stream had been written with send-configuration=off.
    w.capabilities = ["mapped-ram"];
    return "ok";
  }
  r.pos += 1n;
  const lenAt = r.pos;
  const len = await r.u32be();
  if (len === undefined) return w.truncated(lenAt, 4n, SUBJECT, "len");
  if (len > MAX_MACHINE_NAME) {
    w.report("config.machine.invalid", lenAt, {
      subject: SUBJECT,
      field: "len",
      rule: `must be at most ${MAX_MACHINE_NAME} for a machine type name`,
      actual: String(len),
    });
    return "stop";
  }
  const nameBytes = await r.take(len);
  if (nameBytes === undefined) return w.truncated(lenAt + 4n, BigInt(len), SUBJECT, "name");
  const machine = latin1(nameBytes);
  if (!isPrintableName(machine)) {
    w.report("config.machine.invalid", lenAt + 4n, {
      subject: SUBJECT,
      field: "name",
      rule: "must be a non-empty printable machine type name",
      actual: quote(machine),
    });
  } else if (w.options.machine !== undefined && machine !== w.options.machine) {
    w.report("config.machine.mismatch", lenAt + 4n, {
      subject: SUBJECT,
      field: "name",
      rule: `must be ${quote(w.options.machine)}`,
      expected: w.options.machine,
      actual: machine,
    });
  }
  return walkSubsections(w, r);
}

interface Listed {
  readonly name: string;
  readonly offset: bigint;
}

async function walkSubsections(w: Walk, r: StreamReader): Promise<Step> {
  let caps: Listed[] | undefined;
  const capsExpectedAt = r.pos;
  while ((await r.peekU8()) === Section.SUBSECTION) {
    const subAt = r.pos;
    r.pos += 1n;
    const name = await r.counted();
    if (name === undefined) return w.truncated(subAt + 1n, 1n, SUBJECT, "subsection name");
    const versionAt = r.pos;
    const version = await r.u32be();
    if (version === undefined) return w.truncated(versionAt, 4n, SUBJECT, "subsection version_id");
    const subject = `subsection ${quote(name)}`;
    const known = ["configuration/target-page-bits", "configuration/capabilities", "configuration/uuid"];
    if (!known.includes(name)) {
      w.report("config.subsection.unknown", subAt, {
        subject: SUBJECT,
        field: "subsection",
        rule: `must be one of ${known.join(", ")}; the rest of the stream is not checked`,
        actual: quote(name),
      });
      return "stop";
    }
    if (version !== 1) {
      w.report("config.subsection.version", versionAt, {
        subject,
        field: "version_id",
        rule: "must be 1",
        expected: "1",
        actual: String(version),
      });
    }
    if (name === "configuration/target-page-bits") {
      const bits = await r.u32be();
      if (bits === undefined) return w.truncated(r.pos, 4n, subject, "target_page_bits");
      if (bits !== PAGE_BITS) {
        w.report("config.pageBits.mismatch", r.pos - 4n, {
          subject,
          field: "target_page_bits",
          rule: `must be ${PAGE_BITS}`,
          expected: String(PAGE_BITS),
          actual: String(bits),
        });
      } else {
        w.report("config.pageBits.present", subAt, {
          subject,
          field: "subsection",
          rule: "is never written on x86_64 (page bits are fixed at 12)",
        });
      }
    } else if (name === "configuration/uuid") {
      if ((await r.take(16)) === undefined) return w.truncated(r.pos, 16n, subject, "uuid");
    } else {
      const countAt = r.pos;
      const count = await r.u32be();
      if (count === undefined) return w.truncated(countAt, 4n, subject, "caps_count");
      // each capability takes at least its length byte
      if (BigInt(count) > r.remaining) return w.truncated(r.pos, BigInt(count), subject, "capabilities");
      caps = [];
      for (let i = 0; i < count; i++) {
        const at = r.pos;
        const cap = await r.counted();
        if (cap === undefined) return w.truncated(at, 1n, subject, `capabilities[${i}]`);
        caps.push({ name: cap, offset: at });
        if (!(CAPABILITIES as readonly string[]).includes(cap)) {
          // get_capability: "Received unknown capability %s" ends the load here; reading on would take
          // caps_count (up to the file size) garbage entries as capabilities, one finding each
          checkCapabilities(w, caps, capsExpectedAt);
          return "stop";
        }
      }
    }
  }
  checkCapabilities(w, caps, capsExpectedAt);
  return "ok";
}

function checkCapabilities(w: Walk, caps: readonly Listed[] | undefined, expectedAt: bigint): void {
  const subject = 'subsection "configuration/capabilities"';
  const names = (caps ?? []).map((c) => c.name);
  w.capabilities = names;
  w.ignoreShared = names.includes("x-ignore-shared");
  if (!names.includes("mapped-ram")) {
    w.report(
      "config.capabilities.mappedRamMissing",
      caps === undefined ? expectedAt : (caps[0]?.offset ?? expectedAt),
      {
        subject,
        field: "capabilities",
        rule: "must list mapped-ram",
        expected: "mapped-ram",
        actual: caps === undefined ? "no capabilities subsection" : names.join(",") || "none",
      },
    );
  }
  const order = CAPABILITIES as readonly string[];
  let previous = -1;
  let odd: { at: bigint; why: string } | undefined;
  const seen = new Set<string>();
  for (const c of caps ?? []) {
    const index = order.indexOf(c.name);
    if (index < 0) {
      w.report("config.capabilities.unknown", c.offset, {
        subject,
        field: "capability",
        rule: "must be a MigrationCapability name",
        actual: quote(c.name),
      });
      continue;
    }
    if (odd !== undefined) continue;
    if (!VALIDATED_CAPABILITIES.includes(c.name))
      odd = { at: c.offset, why: `${c.name} is never listed by QEMU` };
    else if (seen.has(c.name)) odd = { at: c.offset, why: `${c.name} is listed twice` };
    else if (index < previous) odd = { at: c.offset, why: `${c.name} is out of enum order` };
    seen.add(c.name);
    previous = Math.max(previous, index);
  }
  if (odd !== undefined) {
    w.report("config.capabilities.notCanonical", odd.at, {
      subject,
      field: "capability",
      rule: `must list only x-ignore-shared and mapped-ram, once each, in enum order: ${odd.why}`,
    });
  }
}
