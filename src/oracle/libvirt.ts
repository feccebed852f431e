// libvirt src/qemu/qemu_saveimage.h: virQEMUSaveHeader in front of a `virsh save` image. The oracle's own
// reading of it (independent of the reference implementation): 16-byte magic, then version, data_len, was_running, format,
// cookieOffset and 14 unused words, all u32 in the saving host's order (byte-swapped when version > 2).
// The QEMU stream starts at 92 + data_len; data holds the domain XML + NUL, the cookie + NUL, padding.
import { hex, latin1, viewOf } from "./bytes.js";
import { type ByteSource, readRange } from "./source.js";
import type { Walk } from "./walk.js";

const MAGIC_SAVE = "LibvirtQemudSave";
const MAGIC_PART = "LibvirtQemudPart";
const HEADER_SIZE = 92n;
const SAVE_VERSION = 2;
const FORMATS = ["raw", "gzip", "bzip2", "xz", "lzop", "zstd", "sparse"];
const FORMAT_RAW = 0;
const FORMAT_SPARSE = 6;
/** libvirt refuses domain XML over 10 MiB; data we scan for the NULs is bounded by this. */
const MAX_DATA_SCAN = 16n * 1024n * 1024n;

export interface LibvirtPrefix {
  /** where the QEMU stream starts: 92 + data_len */
  readonly streamStart: bigint;
  readonly format: number;
  /** the walk of the stream can go on (complete, known version, uncompressed, stream inside the file) */
  readonly walkable: boolean;
}

/** Does the file start with a libvirt magic? */
export async function hasLibvirtMagic(src: ByteSource): Promise<boolean> {
  if (src.size < 16n) return false;
  const m = await readRange(src, 0n, 16);
  return m !== undefined && (latin1(m) === MAGIC_SAVE || latin1(m) === MAGIC_PART);
}

/** Checks the header and data of a libvirt image; reports findings on `w`. */
export async function checkLibvirtPrefix(w: Walk, src: ByteSource): Promise<LibvirtPrefix> {
  const subject = "libvirt save image";
  if (src.size < HEADER_SIZE) {
    w.truncated(0n, HEADER_SIZE, subject, "header");
    return { streamStart: src.size, format: -1, walkable: false };
  }
  const h = (await readRange(src, 0n, Number(HEADER_SIZE))) ?? new Uint8Array(Number(HEADER_SIZE));
  const magic = latin1(h.subarray(0, 16));
  const v = viewOf(h);
  const le = v.getUint32(16, true) <= SAVE_VERSION;
  const u32 = (at: number) => v.getUint32(at, le);
  const version = u32(16);
  const dataLen = BigInt(u32(20));
  const format = u32(28);
  const cookieOffset = BigInt(u32(32));
  const streamStart = HEADER_SIZE + dataLen;
  let walkable = true;
  if (magic === MAGIC_PART) {
    walkable = false;
    w.report("libvirt.magic.incomplete", 0n, {
      subject,
      field: "magic",
      rule: `must be ${MAGIC_SAVE}; ${MAGIC_PART} means libvirt never finished the image`,
      expected: MAGIC_SAVE,
      actual: magic,
    });
  }
  if (version !== SAVE_VERSION) {
    walkable = false;
    w.report("libvirt.version.unsupported", 0x10n, {
      subject,
      field: "version",
      rule: `must be ${SAVE_VERSION}`,
      expected: String(SAVE_VERSION),
      actual: String(version),
    });
  }
  if (format >= FORMATS.length) {
    walkable = false;
    w.report("libvirt.format.unknown", 0x1cn, {
      subject,
      field: "format",
      rule: "must be 0 (raw) to 6 (sparse)",
      actual: String(format),
    });
  } else if (format !== FORMAT_RAW && format !== FORMAT_SPARSE) {
    walkable = false;
    w.report("libvirt.format.compressed", 0x1cn, {
      subject,
      field: "format",
      rule: `is ${FORMATS[format]}: the QEMU stream is compressed, so it is not a mapped-ram file`,
      actual: String(format),
    });
  }
  if (streamStart >= src.size) {
    walkable = false;
    w.report("libvirt.dataLen.outOfFile", 0x14n, {
      subject,
      field: "data_len",
      rule: `puts the QEMU stream at ${hex(streamStart)}, which must be inside the file (${hex(src.size)} bytes)`,
      actual: hex(dataLen),
    });
  }
  for (let i = 0; i < 14; i++) {
    if (u32(36 + 4 * i) !== 0) {
      w.report("libvirt.unused.nonzero", BigInt(36 + 4 * i), {
        subject,
        field: `unused[${i}]`,
        rule: "is 0 in every image libvirt writes",
        actual: hex(u32(36 + 4 * i)),
      });
      break;
    }
  }
  // domain XML, then the cookie at data + cookieOffset, each NUL-terminated inside data
  const scan = dataLen < MAX_DATA_SCAN ? dataLen : MAX_DATA_SCAN;
  const inFile = src.size - HEADER_SIZE < scan ? src.size - HEADER_SIZE : scan;
  const data =
    (inFile > 0n ? await readRange(src, HEADER_SIZE, Number(inFile)) : undefined) ?? new Uint8Array(0);
  const xmlEnd = data.indexOf(0);
  if (xmlEnd <= 0) {
    w.report("libvirt.xml.unterminated", HEADER_SIZE, {
      subject,
      field: "domain XML",
      rule: xmlEnd === 0 ? "must not be empty" : `must end with a NUL inside data_len (${hex(dataLen)})`,
    });
  }
  if (cookieOffset !== 0n) {
    if (cookieOffset >= dataLen || (xmlEnd >= 0 && cookieOffset <= BigInt(xmlEnd))) {
      w.report("libvirt.cookieOffset.invalid", 0x20n, {
        subject,
        field: "cookieOffset",
        rule: `must point past the domain XML's NUL and inside data_len (${hex(dataLen)})`,
        actual: hex(cookieOffset),
      });
    } else if (cookieOffset < BigInt(data.length) && data.indexOf(0, Number(cookieOffset)) < 0) {
      w.report("libvirt.cookie.unterminated", HEADER_SIZE + cookieOffset, {
        subject,
        field: "cookie",
        rule: `must end with a NUL inside data_len (${hex(dataLen)})`,
      });
    }
  }
  return { streamStart, format, walkable };
}

/** After the walk: sparse images hold mapped-ram streams, raw ones ordinary streams. */
export function checkLibvirtFormat(w: Walk, prefix: LibvirtPrefix): void {
  const mapped = w.capabilities.includes("mapped-ram") || w.capabilities.includes("fixed-ram");
  if (prefix.format === FORMAT_SPARSE && !mapped) {
    w.report("libvirt.format.mismatch", 0x1cn, {
      subject: "libvirt save image",
      field: "format",
      rule: "is sparse (6), so the QEMU stream must list mapped-ram",
      actual: "a stream without mapped-ram",
    });
  } else if (prefix.format === FORMAT_RAW && mapped) {
    w.report("libvirt.format.mismatch", 0x1cn, {
      subject: "libvirt save image",
      field: "format",
      rule: "is raw (0), so the QEMU stream must not be mapped-ram (libvirt restores raw images through a pipe)",
      actual: "a mapped-ram stream",
    });
  }
}
