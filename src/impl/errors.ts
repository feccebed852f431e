// Errors as data: one class, a stable code, the file offset and field. Shape follows Node core's errors.
import { hex } from "./bytes.js";

export type MappedRamErrorCode =
  /** the file ends before a structure it must contain (bytesRequested/bytesAvailable set) */
  | "ERR_TRUNCATED"
  /** a magic number is wrong */
  | "ERR_BAD_MAGIC"
  /** a version field has a value we (or QEMU) cannot read */
  | "ERR_UNSUPPORTED_VERSION"
  /** a field has a value QEMU would reject or that cannot be laid out */
  | "ERR_INVALID_VALUE"
  /** a record of a type that cannot appear here */
  | "ERR_UNEXPECTED_RECORD"
  /** RAM flags that are invalid in a mapped-ram stream */
  | "ERR_BAD_RAM_FLAGS"
  /** a section footer is missing or names another section */
  | "ERR_BAD_FOOTER"
  /** a block the loader does not know (or that the stream names twice) */
  | "ERR_UNKNOWN_BLOCK"
  /** two regions of the file overlap, or a region lies outside the file */
  | "ERR_BAD_LAYOUT"
  /** a length or count too large to handle within our bounds */
  | "ERR_TOO_LARGE"
  /** the vmdesc JSON is missing or malformed */
  | "ERR_BAD_VMDESC"
  /** a device section we cannot decode */
  | "ERR_UNDECODABLE"
  /** the caller's parameters are not possible (e.g. an image size that is not a multiple of the page) */
  | "ERR_BAD_ARGUMENT"
  /** an operating-system I/O error (ENOSPC, EIO, ...) */
  | "ERR_IO";

export interface MappedRamErrorInit {
  /** what was being decoded, e.g. `ramblock "pc.ram"` or `MappedRamHeader` */
  subject: string;
  /** absolute file offset of the offending bytes */
  offset?: bigint | undefined;
  field?: string | undefined;
  /** what must hold, e.g. "a multiple of 0x1000" */
  rule: string;
  /** what could not be done to the subject (default "decode"; I/O errors say "read", "write", "open") */
  verb?: string | undefined;
  expected?: string | undefined;
  actual?: string | undefined;
  bytesRequested?: bigint | undefined;
  bytesAvailable?: bigint | undefined;
  cause?: unknown;
}

/**
 * Message shape: `cannot decode ramblock "pc.ram" at offset 0x1c: pages_offset must be a multiple of
 * 0x1000. Received 0x123456` — subject first, lowercase, offsets in hex. I/O errors say what could not
 * be done instead of "decode": `cannot write file "r.bin" at offset 0x1000: EFBIG: file too large, write`.
 */
export class MappedRamError extends Error {
  override readonly name = "MappedRamError";
  readonly code: MappedRamErrorCode;
  readonly subject: string;
  readonly offset: bigint | undefined;
  readonly field: string | undefined;
  readonly expected: string | undefined;
  readonly actual: string | undefined;
  readonly bytesRequested: bigint | undefined;
  readonly bytesAvailable: bigint | undefined;

  constructor(code: MappedRamErrorCode, init: MappedRamErrorInit) {
    const subject = printable(init.subject);
    const fieldName = printable(init.field);
    const actual = printable(init.actual);
    const at = init.offset === undefined ? "" : ` at offset ${hex(init.offset)}`;
    const field = fieldName === undefined ? "" : `${fieldName} `;
    const received = actual === undefined ? "" : `. Received ${actual}`;
    const verb = init.verb ?? "decode";
    super(`cannot ${verb} ${subject}${at}: ${field}${printable(init.rule)}${received}`, {
      cause: init.cause,
    });
    this.code = code;
    this.subject = subject;
    this.offset = init.offset;
    this.field = fieldName;
    this.expected = printable(init.expected);
    this.actual = actual;
    this.bytesRequested = init.bytesRequested;
    this.bytesAvailable = init.bytesAvailable;
  }

  /** A plain object for `--json` output and reports. */
  toJSON(): Record<string, string | undefined> {
    return {
      code: this.code,
      message: this.message,
      offset: this.offset === undefined ? undefined : hex(this.offset),
      field: this.field,
      expected: this.expected,
      actual: this.actual,
    };
  }
}

/**
 * Names in messages come from the file (idstrs, subsection names, capability names) and may hold any byte:
 * control characters are written as \xNN, so a message stays one printable line.
 */
function printable<T extends string | undefined>(s: T): T {
  if (s === undefined) return s;
  let out = "";
  for (const ch of s as string) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? `\\x${c.toString(16).padStart(2, "0")}` : ch;
  }
  return out as T;
}

export function truncated(
  subject: string,
  offset: bigint,
  requested: bigint,
  available: bigint,
  field?: string,
): MappedRamError {
  return new MappedRamError("ERR_TRUNCATED", {
    subject,
    offset,
    field,
    rule: `needs ${requested} bytes but the file has ${available < 0n ? 0n : available} left`,
    bytesRequested: requested,
    bytesAvailable: available < 0n ? 0n : available,
  });
}

export function isMappedRamError(e: unknown): e is MappedRamError {
  return e instanceof MappedRamError;
}
