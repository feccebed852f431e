// The VMState walker: decode device payloads with the file's vmdesc, encode them back, render as JSON.
export { encodeVmState } from "./encode.js";
export { type VmJson, vmStructToJson, vmValueToJson } from "./json.js";
export type {
  VmBool,
  VmBytes,
  VmCapability,
  VmField,
  VmInt,
  VmList,
  VmNullPtr,
  VmProblem,
  VmStruct,
  VmSubsection,
  VmValue,
} from "./types.js";
export { NeedMoreBytes, VMS_NULLPTR_MARKER, type VmWalk, walkVmState } from "./walk.js";
