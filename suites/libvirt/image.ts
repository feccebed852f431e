// Builds libvirt-style save images for tests: the 92-byte header (layout from
// ../shared/spec/libvirt-sparse.md §5.1), XML + NUL, cookie + NUL, 64 KiB of zeros, then a QEMU stream
// written by the reference writer at offset 92 + data_len (the prefix is kept, as QEMU keeps it).
import { writeFile } from "node:fs/promises";
import { writeMigrationFile } from "../../src/impl/save.js";

export const XML =
  "<domain type='qemu'>\n  <name>sparseprobe</name>\n  <memory unit='KiB'>131072</memory>\n</domain>\n";
export const COOKIE = "<qemuCookie>\n  <slirpHelper/>\n</qemuCookie>\n";

export interface HeaderFields {
  magic?: string;
  version?: number;
  wasRunning?: number;
  format?: number;
  bigEndian?: boolean;
  dataLenDelta?: number;
}

export function libvirtPrefix(f: HeaderFields = {}): { prefix: Uint8Array; dataLen: number } {
  const xml = new TextEncoder().encode(`${XML}\0`);
  const cookie = new TextEncoder().encode(`${COOKIE}\0`);
  const dataLen = xml.length + cookie.length + 65536;
  const prefix = new Uint8Array(92 + dataLen);
  prefix.set(new TextEncoder().encode(f.magic ?? "LibvirtQemudSave"), 0);
  const v = new DataView(prefix.buffer);
  const le = !f.bigEndian;
  v.setUint32(16, f.version ?? 2, le);
  v.setUint32(20, dataLen + (f.dataLenDelta ?? 0), le);
  v.setUint32(24, f.wasRunning ?? 1, le);
  v.setUint32(28, f.format ?? 6, le);
  v.setUint32(32, xml.length, le);
  prefix.set(xml, 92);
  prefix.set(cookie, 92 + xml.length);
  return { prefix, dataLen };
}

/** A sparse (format 6) image with one block "pc.ram" made of `image`. */
export async function writeLibvirtImage(path: string, image: string, f: HeaderFields = {}): Promise<bigint> {
  const { prefix, dataLen } = libvirtPrefix(f);
  await writeFile(path, prefix);
  const offset = BigInt(92 + dataLen);
  await writeMigrationFile({ path, offset, blocks: [{ idstr: "pc.ram", image }], multifdChannels: 1 });
  return offset;
}
