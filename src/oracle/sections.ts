// migration/savevm.c: qemu_loadvm_state_main, check_section_footer, loadvm_process_command, vmdesc tail.
//
// | type | record                                                                          |
// |------|---------------------------------------------------------------------------------|
// | 0x01 | START: be32 section_id, u8 len + idstr, be32 instance_id, be32 version_id, ...  |
// | 0x04 | FULL: same header as START, a device VMState                                    |
// | 0x02 | PART, 0x03 END: be32 section_id, payload                                        |
// |      | each of the above ends with 0x7e + be32 section_id (footer)                     |
// | 0x08 | COMMAND: be16 command, be16 length, data (SWITCHOVER_START = 0x0b, length 0)    |
// | 0x00 | EOF, then 0x06 + be32 length + vmdesc JSON, and the file ends                   |
import { hex, quote } from "./bytes.js";
import {
  CMD_SWITCHOVER_START,
  PAGE_SIZE,
  RAM_SECTION_IDSTR,
  RAM_SECTION_VERSION,
  Section,
} from "./constants.js";
import { cannotWalk, type DeviceHeader, walkDevice } from "./devices.js";
import { walkRamPayload } from "./ram-section.js";
import type { StreamReader } from "./reader.js";
import { readVmdesc, type Vmdesc } from "./vmdesc.js";
import type { Step, Walk } from "./walk.js";

/** What the walk found at the end of the stream. */
export interface StreamEnd {
  /** offset of QEMU_VM_EOF, when reached */
  readonly eofOffset: bigint | undefined;
  /** the vmdesc the stream has after EOF, when there is one */
  readonly vmdesc: Vmdesc | undefined;
}

/** Section records up to EOF and the vmdesc after it. */
export async function walkSections(w: Walk, r: StreamReader): Promise<StreamEnd> {
  const none: StreamEnd = { eofOffset: undefined, vmdesc: undefined };
  for (;;) {
    const at = r.pos;
    const type = await r.u8();
    if (type === undefined) {
      w.report("stream.eof.missing", at, {
        subject: "stream",
        field: "section type",
        rule: `must end with QEMU_VM_EOF (0x00); the file ends at ${hex(at)}`,
      });
      return none;
    }
    let step: Step;
    switch (type) {
      case Section.EOF:
        checkRamSeen(w, at);
        return { eofOffset: at, vmdesc: await walkVmdescTail(w, r) };
      case Section.START:
      case Section.FULL:
        step = await walkStartFull(w, r, at, type);
        break;
      case Section.PART:
      case Section.END:
        step = await walkPartEnd(w, r, at, type);
        break;
      case Section.COMMAND:
        step = await walkCommand(w, r, at);
        break;
      default:
        w.report("stream.sectionType.unknown", at, {
          subject: "stream",
          field: "section type",
          rule: "must be EOF, START, PART, END, FULL or COMMAND; the rest of the stream is not checked",
          actual: hex(type),
        });
        return none;
    }
    if (step === "stop") return none;
  }
}

function checkRamSeen(w: Walk, eofAt: bigint): void {
  if (!w.ramStarted) {
    w.report("section.ram.missing", eofAt, {
      subject: "stream",
      field: "ram section",
      rule: "must be present before EOF",
    });
  } else if (!w.ramEnded) {
    w.report("section.ram.endMissing", eofAt, {
      subject: "stream",
      field: "ram SECTION_END",
      rule: "must be present before EOF",
    });
  }
}

async function walkStartFull(w: Walk, r: StreamReader, at: bigint, type: number): Promise<Step> {
  const id = await r.u32be();
  const idstr = id === undefined ? undefined : await r.counted();
  if (id === undefined || idstr === undefined) return w.truncated(at + 1n, 5n, "section header", "idstr");
  const instanceAt = r.pos;
  const instanceId = await r.u32be();
  const version = await r.u32be();
  if (instanceId === undefined || version === undefined) {
    return w.truncated(instanceAt, 8n, `section ${quote(idstr)}`, "instance_id and version_id");
  }
  w.sections.set(id, { idstr, instanceId });
  if (idstr === RAM_SECTION_IDSTR) {
    w.ramStarted = true;
    checkRamHeader(w, instanceAt, instanceId, version);
    if ((await walkRamPayload(w, r, "start")) === "stop") return "stop";
    return footer(w, r, id, idstr, true);
  }
  if (type === Section.START) {
    cannotWalk(w, at, idstr, "an iterable section other than ram");
    return "stop";
  }
  const h: DeviceHeader = { offset: at, idstr, instanceId, versionAt: instanceAt + 4n, version };
  const device = await walkDevice(w, r, h);
  if (device.status === "stop") return "stop";
  return footer(w, r, id, idstr, device.trusted);
}

function checkRamHeader(w: Walk, instanceAt: bigint, instanceId: number, version: number): void {
  if (instanceId !== 0) {
    w.report("section.ram.instanceId", instanceAt, {
      subject: 'section "ram"',
      field: "instance_id",
      rule: "must be 0",
      expected: "0",
      actual: String(instanceId),
    });
  }
  if (version !== RAM_SECTION_VERSION) {
    w.report("section.ram.version", instanceAt + 4n, {
      subject: 'section "ram"',
      field: "version_id",
      rule: `must be ${RAM_SECTION_VERSION}`,
      expected: String(RAM_SECTION_VERSION),
      actual: String(version),
    });
  }
}

async function walkPartEnd(w: Walk, r: StreamReader, at: bigint, type: number): Promise<Step> {
  const id = await r.u32be();
  if (id === undefined) return w.truncated(at + 1n, 4n, "section header", "section_id");
  const section = w.sections.get(id);
  if (section === undefined) {
    w.report("section.id.unknown", at + 1n, {
      subject: `${type === Section.PART ? "SECTION_PART" : "SECTION_END"} at ${hex(at)}`,
      field: "section_id",
      rule: "must name a section started before; the rest of the stream is not checked",
      actual: String(id),
    });
    return "stop";
  }
  if (section.idstr !== RAM_SECTION_IDSTR) {
    cannotWalk(w, at, section.idstr, "an iterable section other than ram");
    return "stop";
  }
  if (type === Section.END) w.ramEnded = true;
  if ((await walkRamPayload(w, r, type === Section.PART ? "part" : "end")) === "stop") return "stop";
  return footer(w, r, id, section.idstr, true);
}

/** `check_section_footer`. A missing footer does not stop the walk: the byte is read as a record type. */
async function footer(w: Walk, r: StreamReader, id: number, idstr: string, trusted: boolean): Promise<Step> {
  const at = r.pos;
  const type = await r.u8();
  if (type === undefined) return w.truncated(at, 5n, `section ${quote(idstr)}`, "footer");
  if (type !== Section.FOOTER) {
    r.seek(at);
    if (!trusted) return cannotWalk(w, at, idstr, "its vmdesc size does not end at a footer").status;
    w.report("section.footer.missing", at, {
      subject: `section ${quote(idstr)} (id ${id})`,
      field: "footer",
      rule: `must follow the section (${hex(Section.FOOTER)})`,
      expected: hex(Section.FOOTER),
      actual: hex(type),
    });
    return "ok";
  }
  const got = await r.u32be();
  if (got === undefined) return w.truncated(at + 1n, 4n, `section ${quote(idstr)}`, "footer section_id");
  if (got !== id) {
    if (!trusted) return cannotWalk(w, at, idstr, "its vmdesc size does not end at its footer").status;
    w.report("section.footer.mismatch", at + 1n, {
      subject: `section ${quote(idstr)} (id ${id})`,
      field: "footer section_id",
      rule: `must be ${id}`,
      expected: String(id),
      actual: String(got),
    });
  }
  return "ok";
}

async function walkCommand(w: Walk, r: StreamReader, at: bigint): Promise<Step> {
  const cmd = await r.u16be();
  const len = await r.u16be();
  if (cmd === undefined || len === undefined)
    return w.truncated(at + 1n, 4n, "command", "command and length");
  if ((await r.take(len)) === undefined) return w.truncated(at + 5n, BigInt(len), "command", "data");
  if (cmd !== CMD_SWITCHOVER_START) {
    w.report("stream.command.unexpected", at + 1n, {
      subject: `command at ${hex(at)}`,
      field: "command",
      rule: `must be SWITCHOVER_START (${hex(CMD_SWITCHOVER_START)}) in a migration file`,
      expected: hex(CMD_SWITCHOVER_START),
      actual: hex(cmd),
    });
  } else if (len !== 0) {
    w.report("stream.command.badLength", at + 3n, {
      subject: `command at ${hex(at)}`,
      field: "length",
      rule: "of SWITCHOVER_START must be 0",
      expected: "0",
      actual: String(len),
    });
  }
  return "ok";
}

/** After EOF: 0x06, be32 length, JSON, and the end of the file. */
async function walkVmdescTail(w: Walk, r: StreamReader): Promise<Vmdesc | undefined> {
  const at = r.pos;
  const type = await r.u8();
  if (type === undefined) {
    w.report("vmdesc.missing", at, {
      subject: "stream",
      field: "vmdesc",
      rule: "follows EOF unless the machine has suppress-vmdesc=on",
    });
    return undefined;
  }
  if (type !== Section.VMDESCRIPTION) {
    w.report("vmdesc.sectionType.invalid", at, {
      subject: "stream",
      field: "section type after EOF",
      rule: `must be QEMU_VM_VMDESCRIPTION (${hex(Section.VMDESCRIPTION)})`,
      expected: hex(Section.VMDESCRIPTION),
      actual: hex(type),
    });
    return undefined;
  }
  const length = await r.u32be();
  if (length === undefined) {
    w.report("vmdesc.length.outOfFile", at + 1n, {
      subject: "vmdesc",
      field: "length",
      rule: "must be a be32 inside the file",
    });
    return undefined;
  }
  const vmdesc = await readVmdesc(w.src, at, BigInt(length));
  checkVmdesc(w, vmdesc);
  return vmdesc;
}

/** JSON, page_size and the end of the file, for a vmdesc found by the walk or from the end. */
export function checkVmdesc(w: Walk, v: Vmdesc): void {
  const end = v.jsonOffset + v.length;
  if (end > w.size) {
    w.report("vmdesc.length.outOfFile", v.typeOffset + 1n, {
      subject: "vmdesc",
      field: "length",
      rule: `must fit in the file: the JSON would end at ${hex(end)}, the file at ${hex(w.size)}`,
      expected: `<= ${w.size - v.jsonOffset}`,
      actual: String(v.length),
    });
    return;
  }
  if (v.error !== undefined) {
    w.report("vmdesc.json.invalid", v.jsonOffset, {
      subject: "vmdesc",
      field: "JSON",
      rule: `must be a JSON object: ${v.error}`,
    });
  } else if (v.json?.page_size !== Number(PAGE_SIZE)) {
    w.report("vmdesc.pageSize.mismatch", v.jsonOffset, {
      subject: "vmdesc",
      field: "page_size",
      rule: `must be ${PAGE_SIZE}`,
      expected: String(PAGE_SIZE),
      actual: String(v.json?.page_size),
    });
  }
  if (end < w.size) {
    w.report("vmdesc.trailingBytes", end, {
      subject: "vmdesc",
      field: "end of file",
      rule: `must be the end of the JSON (${hex(end)})`,
      expected: hex(end),
      actual: hex(w.size),
    });
  }
}
