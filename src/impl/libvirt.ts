// libvirt src/qemu/qemu_saveimage.h: virQEMUSaveHeader, the 92-byte header of a `virsh save` image.
// Fields are in the saving host's byte order; libvirt byte-swaps them all when version > 2.
//
// | off  | size | field        |                                                        |
// | 0x00 | 16   | magic        | "LibvirtQemudSave" (complete) / "LibvirtQemudPart" (incomplete) |
// | 0x10 | 4    | version      | QEMU_SAVE_VERSION = 2                                  |
// | 0x14 | 4    | data_len     | domain XML + NUL, cookie XML + NUL, 64 KiB padding     |
// | 0x18 | 4    | was_running  |                                                        |
// | 0x1c | 4    | format       | virQEMUSaveFormat: 0 raw … 6 sparse                    |
// | 0x20 | 4    | cookieOffset | relative to 0x5c                                       |
// | 0x24 | 56   | unused[14]   |                                                        |
// | 0x5c |      | data         | the QEMU stream starts at 0x5c + data_len              |
import { fromLatin1, viewOf } from "./bytes.js";
import { MappedRamError } from "./errors.js";
import type { RandomAccessSource } from "./source.js";

export const LIBVIRT_MAGIC_COMPLETE = "LibvirtQemudSave";
export const LIBVIRT_MAGIC_PARTIAL = "LibvirtQemudPart";
export const LIBVIRT_HEADER_SIZE = 92;
export const LIBVIRT_SAVE_VERSION = 2;
export const LIBVIRT_SAVE_FORMATS = ["raw", "gzip", "bzip2", "xz", "lzop", "zstd", "sparse"] as const;
/** The domain XML and cookie we read to show them (libvirt itself caps the XML at 10 MiB). */
const MAX_DATA_READ = 16 * 1024 * 1024;

export interface LibvirtSaveHeader {
  magic: string;
  /** magic is LibvirtQemudSave (libvirt finished the image) */
  complete: boolean;
  /** the fields were stored byte-swapped relative to little endian (a big-endian host wrote them) */
  byteSwapped: boolean;
  version: number;
  dataLen: number;
  wasRunning: number;
  format: number;
  formatName: string;
  cookieOffset: number;
  unused: number[];
  /** 0x5c + data_len: where the QEMU stream starts */
  streamOffset: bigint;
  /** domain XML (up to its NUL), or undefined when it is not NUL-terminated inside data */
  xml?: string;
  /** cookie XML at data + cookieOffset (up to its NUL), when present and terminated */
  cookie?: string;
  /** from the XML: <name> and <memory> (with its unit) */
  domainName?: string;
  memory?: { value: number; unit: string };
}

function tag(xml: string, name: string): RegExpExecArray | null {
  return new RegExp(`<${name}(\\s[^>]*)?>([^<]*)</${name}>`).exec(xml);
}

/**
 * Reads the libvirt header when the file starts with one of libvirt's magics; undefined otherwise.
 * Does not judge the image (a partial or compressed image is returned as such): see streamStartOf.
 */
export async function readLibvirtHeader(src: RandomAccessSource): Promise<LibvirtSaveHeader | undefined> {
  if (src.size < 16n) return undefined;
  const magic = fromLatin1(await src.read(0n, 16, "libvirt save header"));
  if (magic !== LIBVIRT_MAGIC_COMPLETE && magic !== LIBVIRT_MAGIC_PARTIAL) return undefined;
  const raw = await src.read(0n, LIBVIRT_HEADER_SIZE, "libvirt save header");
  const view = viewOf(raw);
  let le = true;
  if (view.getUint32(16, true) > LIBVIRT_SAVE_VERSION) le = false; // libvirt's bswap_header rule
  const u32 = (at: number) => view.getUint32(at, le);
  const unused: number[] = [];
  for (let i = 0; i < 14; i++) unused.push(u32(36 + 4 * i));
  const format = u32(28);
  const h: LibvirtSaveHeader = {
    magic,
    complete: magic === LIBVIRT_MAGIC_COMPLETE,
    byteSwapped: !le,
    version: u32(16),
    dataLen: u32(20),
    wasRunning: u32(24),
    format,
    formatName: LIBVIRT_SAVE_FORMATS[format] ?? `unknown (${format})`,
    cookieOffset: u32(32),
    unused,
    streamOffset: BigInt(LIBVIRT_HEADER_SIZE) + BigInt(u32(20)),
  };
  const avail = src.size - BigInt(LIBVIRT_HEADER_SIZE);
  const dataLen = BigInt(h.dataLen) < avail ? h.dataLen : Number(avail > 0n ? avail : 0n);
  const data = await src.read(
    BigInt(LIBVIRT_HEADER_SIZE),
    Math.min(dataLen, MAX_DATA_READ),
    "libvirt save data",
  );
  const nul = data.indexOf(0);
  if (nul >= 0) {
    h.xml = fromLatin1(data.subarray(0, nul));
    const name = tag(h.xml, "name");
    if (name) h.domainName = name[2] as string;
    const mem = tag(h.xml, "memory");
    if (mem) {
      const unit = /unit=['"]([^'"]+)['"]/.exec(mem[1] ?? "");
      h.memory = { value: Number(mem[2]), unit: unit ? (unit[1] as string) : "KiB" };
    }
  }
  if (h.cookieOffset > 0 && h.cookieOffset < data.length) {
    const end = data.indexOf(0, h.cookieOffset);
    if (end >= 0) h.cookie = fromLatin1(data.subarray(h.cookieOffset, end));
  }
  return h;
}

/**
 * Where the QEMU stream of `src` starts: the explicit offset when given; else 0x5c + data_len for a
 * libvirt image (refusing incomplete and compressed ones); else 0.
 */
export async function streamStartOf(
  src: RandomAccessSource,
  explicit?: bigint,
): Promise<{ offset: bigint; libvirt?: LibvirtSaveHeader }> {
  const libvirt = await readLibvirtHeader(src);
  if (explicit !== undefined) return libvirt ? { offset: explicit, libvirt } : { offset: explicit };
  if (!libvirt) return { offset: 0n };
  const subject = "libvirt save image";
  if (!libvirt.complete) {
    throw new MappedRamError("ERR_INVALID_VALUE", {
      subject,
      offset: 0n,
      field: "magic",
      rule: `is ${LIBVIRT_MAGIC_PARTIAL}: libvirt did not finish writing this image`,
      expected: LIBVIRT_MAGIC_COMPLETE,
      actual: libvirt.magic,
    });
  }
  if (libvirt.version !== LIBVIRT_SAVE_VERSION) {
    throw new MappedRamError("ERR_UNSUPPORTED_VERSION", {
      subject,
      offset: 0x10n,
      field: "version",
      rule: `must be ${LIBVIRT_SAVE_VERSION}`,
      actual: String(libvirt.version),
    });
  }
  if (libvirt.format !== 0 && libvirt.format !== 6) {
    throw new MappedRamError("ERR_UNDECODABLE", {
      subject,
      offset: 0x1cn,
      field: "format",
      rule: `is ${libvirt.formatName}: compressed images cannot be read; only raw (0) and sparse (6)`,
      actual: String(libvirt.format),
    });
  }
  if (libvirt.streamOffset >= src.size) {
    throw new MappedRamError("ERR_TRUNCATED", {
      subject,
      offset: 0x14n,
      field: "data_len",
      rule: `puts the QEMU stream at 0x${libvirt.streamOffset.toString(16)}, past the end of the file`,
      bytesRequested: libvirt.streamOffset,
      bytesAvailable: src.size,
    });
  }
  return { offset: libvirt.streamOffset, libvirt };
}
