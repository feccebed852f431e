// A decoded VMState as plain JSON for `mrc inspect --device`, shaped like scripts/analyze-migration.py's
// state dump: one object per struct, fields by name (repeated names and array elements become arrays),
// subsections under their full vmsd name. Integers up to 32 bits are numbers, 64-bit ones hex strings.
import { hex } from "../bytes.js";
import type { VmStruct, VmValue } from "./types.js";

export type VmJson = null | boolean | number | string | VmJson[] | { [key: string]: VmJson };

function bytesHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function vmValueToJson(v: VmValue): VmJson {
  switch (v.kind) {
    case "int":
      return v.size === 8 ? hex(v.value) : Number(v.value);
    case "bool":
      return v.raw !== 0;
    case "bytes":
      return bytesHex(v.bytes);
    case "capability":
      return v.name;
    case "nullptr":
      return null;
    case "struct":
      return vmStructToJson(v);
    case "list":
      return v.elements.map(vmStructToJson);
  }
}

export function vmStructToJson(s: VmStruct): { [key: string]: VmJson } {
  const out: { [key: string]: VmJson } = {};
  const arrays = new Set<string>();
  for (const f of s.fields) {
    const value = vmValueToJson(f.value);
    const have = out[f.name];
    if (have === undefined && f.index === undefined) {
      out[f.name] = value;
    } else if (have === undefined) {
      out[f.name] = [value];
      arrays.add(f.name);
    } else if (arrays.has(f.name)) {
      (have as VmJson[]).push(value);
    } else {
      out[f.name] = [have, value];
      arrays.add(f.name);
    }
  }
  for (const sub of s.subsections) out[sub.name] = vmStructToJson(sub.body);
  return out;
}
