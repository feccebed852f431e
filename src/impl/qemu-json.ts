// qobject/json-writer.c (compact mode) as used for the vmdesc: ", " between members and ": " after keys.
// Object members keep insertion order, as QEMU writes them.

export type QemuJsonValue =
  | string
  | number
  | boolean
  | null
  | QemuJsonValue[]
  | { [key: string]: QemuJsonValue };

export function toQemuJson(v: QemuJsonValue): string {
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new RangeError("vmdesc numbers are integers");
    return String(v);
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v)) return `[${v.map(toQemuJson).join(", ")}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${JSON.stringify(k)}: ${toQemuJson(x)}`)
    .join(", ")}}`;
}
