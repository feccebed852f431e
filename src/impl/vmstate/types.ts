// migration/vmstate.c: vmstate_save_state_v / vmstate_subsection_save — the decoded form of one VMState
// payload. Every byte of the payload belongs to exactly one leaf, so encoding the tree gives the bytes back.
//
// | kind       | wire bytes                                                     | vmdesc "type"                     |
// | int        | 1/2/4/8 bytes big endian                                       | int8..uint64, "… equal", "int32 le", timer |
// | bool       | 1 byte (the raw value, normally 0 or 1)                        | bool                              |
// | bytes      | `size` raw bytes                                               | buffer, unused_buffer, pci config, … |
// | capability | u8 length + name                                               | capability                        |
// | nullptr    | 1 byte, '0' (0x30) for a NULL element of an array of pointers | nullptr                           |
// | struct     | the fields, then each subsection: 05, u8 len, name, be32 version, fields | struct, vstruct, tmp    |
// | list       | per element 01 + struct, then 00                               | qtailq, qlist                     |

export interface VmInt {
  kind: "int";
  /** the vmdesc type, e.g. "uint32", "int32 equal", "timer" */
  type: string;
  size: 1 | 2 | 4 | 8;
  signed: boolean;
  value: bigint;
}

export interface VmBool {
  kind: "bool";
  /** the byte as written (put_bool writes the C bool, 0 or 1) */
  raw: number;
}

export interface VmBytes {
  kind: "bytes";
  /** the vmdesc type, or "undecoded" for bytes the walker could not attribute */
  type: string;
  bytes: Uint8Array;
}

export interface VmCapability {
  kind: "capability";
  /** one char per byte (latin1) */
  name: string;
}

export interface VmNullPtr {
  kind: "nullptr";
  /** VMS_NULLPTR_MARKER '0' (0x30) in every QEMU stream */
  raw: number;
}

export interface VmStruct {
  kind: "struct";
  vmsdName: string;
  version: number;
  fields: VmField[];
  subsections: VmSubsection[];
}

export interface VmList {
  kind: "list";
  type: string;
  elements: VmStruct[];
}

export type VmValue = VmInt | VmBool | VmBytes | VmCapability | VmNullPtr | VmStruct | VmList;

export interface VmField {
  /** the vmdesc name (QEMU appends `[n]` to names that occur more than once in one vmsd) */
  name: string;
  /** element index inside an array field (`array_len` or `index` in the vmdesc) */
  index?: number;
  /** absolute file offset of the first byte */
  offset: bigint;
  length: number;
  value: VmValue;
}

export interface VmSubsection {
  /** the subsection's vmsd name as written in the stream, e.g. "cpu/poll_control_msr" */
  name: string;
  version: number;
  /** absolute file offset of the 0x05 byte */
  offset: bigint;
  body: VmStruct;
}

/** Something the walker could not decode or that disagrees with the vmdesc, with where it is. */
export interface VmProblem {
  offset: bigint;
  /** dotted path of the field, e.g. `cpu.env.segs[2]` */
  path: string;
  message: string;
  /** true when the payload length itself is unknown from here on */
  fatal: boolean;
}
