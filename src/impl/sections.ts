// migration/savevm.c: save_section_header, save_section_footer, qemu_savevm_command_send,
// qemu_savevm_state_header and the end of the stream (EOF, QEMU_VM_VMDESCRIPTION).
//
// | type | record         | layout after the type byte                                              |
// | 01   | SECTION_START  | be32 section_id, u8 len + idstr, be32 instance_id, be32 version_id, ... |
// | 02   | SECTION_PART   | be32 section_id, ...                                                    |
// | 03   | SECTION_END    | be32 section_id, ...                                                    |
// | 04   | SECTION_FULL   | same header as START, VMState payload                                   |
// | 7e   | SECTION_FOOTER | be32 section_id                                                         |
// | 08   | COMMAND        | be16 command, be16 length, data                                         |
// | 00   | EOF            |                                                                         |
// | 06   | VMDESCRIPTION  | be32 length, JSON                                                       |
import { ByteWriter, latin1 } from "./bytes.js";
import {
  QEMU_VM_COMMAND,
  QEMU_VM_EOF,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  type QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  type QEMU_VM_SECTION_PART,
  type QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
} from "./constants.js";

export interface SectionId {
  sectionId: number;
  idstr: string;
  instanceId: number;
  versionId: number;
}

export function encodeFileHeader(): Uint8Array {
  return new ByteWriter(8).u32be(QEMU_VM_FILE_MAGIC).u32be(QEMU_VM_FILE_VERSION).finish();
}

/** START or FULL header (type, id, idstr, instance, version). */
export function encodeSectionHeader(
  type: typeof QEMU_VM_SECTION_START | typeof QEMU_VM_SECTION_FULL,
  s: SectionId,
) {
  return new ByteWriter(32)
    .u8(type)
    .u32be(s.sectionId)
    .countedString(s.idstr)
    .u32be(s.instanceId)
    .u32be(s.versionId)
    .finish();
}

/** PART or END header (type, id). */
export function encodeSectionShortHeader(
  type: typeof QEMU_VM_SECTION_PART | typeof QEMU_VM_SECTION_END,
  sectionId: number,
): Uint8Array {
  return new ByteWriter(5).u8(type).u32be(sectionId).finish();
}

export function encodeSectionFooter(sectionId: number): Uint8Array {
  return new ByteWriter(5).u8(QEMU_VM_SECTION_FOOTER).u32be(sectionId).finish();
}

export function encodeCommand(command: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return new ByteWriter(5 + data.length)
    .u8(QEMU_VM_COMMAND)
    .u16be(command)
    .u16be(data.length)
    .bytes(data)
    .finish();
}

export function encodeEof(): Uint8Array {
  return Uint8Array.of(QEMU_VM_EOF);
}

/** 06, be32 length, the JSON bytes (no NUL, no newline). */
export function encodeVmdesc(json: string): Uint8Array {
  const b = latin1(json);
  return new ByteWriter(5 + b.length).u8(QEMU_VM_VMDESCRIPTION).u32be(b.length).bytes(b).finish();
}

/** A whole FULL section: header, payload, footer. */
export function encodeFullSection(s: SectionId, payload: Uint8Array): Uint8Array {
  return new ByteWriter(payload.length + 40)
    .bytes(encodeSectionHeader(QEMU_VM_SECTION_FULL, s))
    .bytes(payload)
    .bytes(encodeSectionFooter(s.sectionId))
    .finish();
}
