// migration/vmstate.c: vmstate_save_state_v / vmstate_subsection_save and the put functions of
// migration/vmstate-types.c — writes a decoded VMState tree back to the bytes QEMU wrote.
import { ByteWriter } from "../bytes.js";
import { QEMU_VM_SUBSECTION } from "../constants.js";
import type { VmStruct, VmValue } from "./types.js";

function putValue(w: ByteWriter, v: VmValue): void {
  switch (v.kind) {
    case "int": {
      const u = BigInt.asUintN(v.size * 8, v.value);
      for (let i = v.size - 1; i >= 0; i--) w.u8(Number((u >> BigInt(i * 8)) & 0xffn));
      return;
    }
    case "bool":
    case "nullptr":
      w.u8(v.raw);
      return;
    case "bytes":
      w.bytes(v.bytes);
      return;
    case "capability":
      w.countedString(v.name);
      return;
    case "struct":
      putStruct(w, v);
      return;
    case "list":
      for (const e of v.elements) {
        w.u8(1);
        putStruct(w, e);
      }
      w.u8(0);
      return;
  }
}

function putStruct(w: ByteWriter, s: VmStruct): void {
  for (const f of s.fields) putValue(w, f.value);
  for (const sub of s.subsections) {
    w.u8(QEMU_VM_SUBSECTION).countedString(sub.name).u32be(sub.version);
    putStruct(w, sub.body);
  }
}

/** The payload bytes of a decoded device (or nested) VMState. */
export function encodeVmState(s: VmStruct): Uint8Array {
  const w = new ByteWriter(1024);
  putStruct(w, s);
  return w.finish();
}
