// One hand-made corrupt file per check, as data: the finding id and the offset it must be reported
// at. Offsets are derived by hand from the spec for the small reference file below, not from the
// oracle's output.
//
// The small reference file (one block "r" of 16 pages, `zeroRuns` pattern, offset 0):
//   0x00 magic/version, 0x08 configuration, 0x11 capabilities subsection, 0x31 caps_count
//   0x40 SECTION_START "ram" (0x41 id, 0x49 instance_id, 0x4d version_id), 0x51 MEM_SIZE
//   0x59 block record "r", 0x5b used_length, 0x63 MappedRamHeader (0x67 page_size,
//   0x6f bitmap_offset, 0x77 pages_offset), 0x7f bitmap (8 bytes: 7f f0 00 ...)
//   0x100000 page array (pages 0-6 and 12-15 non-zero), 0x110000 setup EOS + footer
//   0x11000d PART, 0x11001f SWITCHOVER_START, 0x110024 END, 0x110036 timer, 0x110066 globalstate,
//   0x1100ec EOF, 0x1100ed vmdesc (JSON at 0x1100f2, 1024 bytes), end of file 0x1104f2
import type { CheckOptions, FindingId } from "../../../src/oracle/index.js";
import { memorySource } from "../../../src/oracle/index.js";
import { makeImage } from "../../helpers/images.js";
import { be32, be64, buildFile, insertAt } from "./builder.js";
import type { SparseFile } from "./sparse.js";

export interface CorruptCase {
  readonly id: FindingId;
  readonly what: string;
  /** the offset the finding must carry */
  readonly offset: bigint;
  readonly make: () => { file: SparseFile; options?: CheckOptions };
  /** the file has no finding worse than this case's own (for exit-code checks) */
  readonly clean?: boolean;
  /**
   * What QEMU 10.0.2 does loading it (`-M none`, RAM block "r" of `ramPages` pages): reject it,
   * load RAM other than the 16-page `zeroRuns` image, or load exactly that image.
   */
  readonly qemu: "rejects" | "wrongRam" | "loads" | { readonly skip: string };
  /** default 16 */
  readonly ramPages?: number;
  /** capabilities the loading QEMU needs besides mapped-ram */
  readonly capabilities?: readonly string[];
}

const IMAGE = makeImage("zeroRuns", 16);

function small(extra: Partial<Parameters<typeof buildFile>[0]> = {}): SparseFile {
  return buildFile({ blocks: [{ idstr: "r", pages: 16, image: IMAGE }], ...extra }).file;
}

function patched(at: bigint, bytes: readonly number[]): () => { file: SparseFile } {
  return () => ({ file: small().patch(at, bytes) });
}

const str = (s: string) => [...s].map((c) => c.charCodeAt(0));
const SPEC8 = makeImage("spec8", 2048);

// A libvirt save image around the small reference file: header (0x00 magic, 0x10 version, 0x14 data_len,
// 0x18 was_running, 0x1c format, 0x20 cookieOffset, 0x24 unused[14]), data at 0x5c: XML
// "<domain><name>t</name></domain>" + NUL (32 bytes, so the cookie is at 0x5c + 0x20 = 0x7c),
// "<cookie/>" + NUL (10 bytes), 64 KiB of zeros: data_len 0x1002a, the stream at 0x5c + 0x1002a = 0x10086.
const LV_XML = "<domain><name>t</name></domain>";
const LV_COOKIE = "<cookie/>";
const LV_DATA_LEN = LV_XML.length + 1 + LV_COOKIE.length + 1 + 0x10000;
const LV_STREAM = 0x5cn + BigInt(LV_DATA_LEN);

function libvirtImage(
  h: {
    magic?: string;
    version?: number;
    format?: number;
    dataLen?: number;
    cookieOffset?: number;
    unused0?: number;
  } = {},
): SparseFile {
  const file = buildFile({
    blocks: [{ idstr: "r", pages: 16, image: IMAGE }],
    offset: LV_STREAM,
    prefixByte: 0,
  }).file;
  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return file
    .patch(0n, str(h.magic ?? "LibvirtQemudSave"))
    .patch(0x10n, [
      ...le32(h.version ?? 2),
      ...le32(h.dataLen ?? LV_DATA_LEN),
      ...le32(1),
      ...le32(h.format ?? 6),
      ...le32(h.cookieOffset ?? LV_XML.length + 1),
    ])
    .patch(0x24n, le32(h.unused0 ?? 0))
    .patch(0x5cn, [...str(LV_XML), 0, ...str(LV_COOKIE), 0]);
}
const LIBVIRT_SKIP = {
  skip: "libvirt's header: libvirt reads it, QEMU is handed the stream after it",
} as const;

export const CORRUPT_CASES: readonly CorruptCase[] = [
  // the stream
  {
    id: "stream.truncated",
    what: "the file ends inside the MappedRamHeader",
    qemu: "rejects",
    offset: 0x63n,
    make: () => ({ file: small().truncate(0x70n) }),
  },
  {
    id: "stream.truncated",
    what: "the file ends inside the timer section",
    qemu: "rejects",
    offset: 0x110036n + 1n,
    make: () => ({ file: small().truncate(0x110036n + 3n) }),
  },
  {
    id: "stream.magic.invalid",
    what: "QEVX instead of QEVM",
    qemu: "rejects",
    offset: 0n,
    make: patched(0n, str("QEVX")),
  },
  {
    id: "stream.magic.invalid",
    what: "a file saved at offset 0x1000 read from 0 (the 'X' prefix)",
    qemu: "rejects",
    offset: 0n,
    make: () => ({ file: buildFile({ offset: 0x1000n, blocks: [{ idstr: "r", pages: 16 }] }).file }),
  },
  {
    id: "stream.version.unsupported",
    what: "version 2",
    qemu: "rejects",
    offset: 4n,
    make: patched(4n, be32(2)),
  },
  {
    id: "stream.sectionType.unknown",
    what: "the PART type byte is 0x09",
    qemu: "rejects",
    offset: 0x11000dn,
    make: patched(0x11000dn, [0x09]),
  },
  {
    id: "stream.command.unexpected",
    what: "PING (0x02) instead of SWITCHOVER_START",
    qemu: "rejects",
    offset: 0x110020n,
    make: patched(0x110021n, [0x02]),
    clean: true,
  },
  {
    id: "stream.command.badLength",
    what: "SWITCHOVER_START with 4 bytes of data",
    qemu: "rejects",
    offset: 0x110022n,
    make: () => ({ file: insertAt(small().patch(0x110022n, [0, 4]), 0x110024n, [0, 0, 0, 0]) }),
  },
  {
    id: "stream.eof.missing",
    what: "the file ends where EOF should be",
    qemu: "rejects",
    offset: 0x1100ecn,
    make: () => ({ file: small().truncate(0x1100ecn) }),
  },
  // configuration
  {
    id: "config.missing",
    what: "0x01 instead of 0x07",
    qemu: "rejects",
    offset: 8n,
    make: patched(8n, [0x01]),
  },
  {
    id: "config.machine.invalid",
    what: 'machine name "no\\x01e"',
    qemu: "rejects",
    offset: 0xdn,
    make: patched(0xfn, [0x01]),
  },
  {
    id: "config.machine.mismatch",
    what: "none where pc-i440fx-10.0 is asked for",
    qemu: { skip: "a check of the caller's option" },
    offset: 0xdn,
    make: () => ({ file: small(), options: { machine: "pc-i440fx-10.0" } }),
    clean: true,
  },
  {
    id: "config.subsection.unknown",
    what: '"configuration/capabilitiez"',
    qemu: "rejects",
    offset: 0x11n,
    make: patched(0x11n + 2n + 25n, str("z")),
  },
  {
    id: "config.subsection.version",
    what: "capabilities subsection version 2",
    qemu: "rejects",
    offset: 0x2dn,
    make: patched(0x2dn, be32(2)),
  },
  {
    id: "config.pageBits.mismatch",
    what: "target-page-bits 13",
    qemu: "rejects",
    offset: 0x35n,
    make: () => ({
      file: small({ subsectionsBefore: [{ name: "configuration/target-page-bits", payload: be32(13) }] }),
    }),
  },
  {
    id: "config.pageBits.present",
    what: "target-page-bits 12 on x86_64",
    qemu: "loads",
    offset: 0x11n,
    make: () => ({
      file: small({ subsectionsBefore: [{ name: "configuration/target-page-bits", payload: be32(12) }] }),
    }),
    clean: true,
  },
  {
    id: "config.capabilities.mappedRamMissing",
    what: "no capabilities subsection",
    qemu: "rejects",
    offset: 0x11n,
    make: () => ({ file: small({ capabilities: [] }) }),
    clean: true,
  },
  {
    id: "config.capabilities.unknown",
    what: "mapped-ram, fixed-ram",
    qemu: "rejects",
    offset: 0x40n,
    make: () => ({ file: small({ capabilities: ["mapped-ram", "fixed-ram"] }) }),
  },
  {
    id: "config.capabilities.notCanonical",
    what: "mapped-ram, multifd",
    qemu: "loads",
    offset: 0x40n,
    make: () => ({ file: small({ capabilities: ["mapped-ram", "multifd"] }) }),
    clean: true,
  },
  {
    id: "config.capabilities.notCanonical",
    what: "mapped-ram, x-ignore-shared (out of enum order)",
    qemu: "loads",
    capabilities: ["x-ignore-shared"],
    offset: 0x40n,
    make: () => ({ file: small({ capabilities: ["mapped-ram", "x-ignore-shared"], mrAddr: false }) }),
  },
  {
    id: "config.capabilities.ignoreShared",
    what: "x-ignore-shared with mr->addr, as 10.0.2 writes it",
    qemu: "rejects",
    capabilities: ["x-ignore-shared"],
    offset: 0x73n,
    make: () => ({ file: small({ capabilities: ["x-ignore-shared", "mapped-ram"] }) }),
    clean: true,
  },
  {
    id: "ram.block.mrAddr.missing",
    what: "x-ignore-shared listed, no mr->addr",
    qemu: "loads",
    capabilities: ["x-ignore-shared"],
    offset: 0x73n,
    make: () => ({ file: small({ capabilities: ["x-ignore-shared", "mapped-ram"], mrAddr: false }) }),
    clean: true,
  },
  // sections
  {
    id: "section.footer.missing",
    what: "the PART footer byte is 0x7f",
    qemu: "rejects",
    offset: 0x11001an,
    make: patched(0x11001an, [0x7f]),
  },
  {
    id: "section.footer.mismatch",
    what: "the PART footer names section 2",
    qemu: "rejects",
    offset: 0x11001bn,
    make: patched(0x11001bn, be32(2)),
    clean: true,
  },
  {
    id: "section.id.unknown",
    what: "a PART for section 9",
    qemu: "rejects",
    offset: 0x11000en,
    make: patched(0x11000en, be32(9)),
  },
  {
    id: "section.ram.version",
    what: "ram version 3",
    qemu: "rejects",
    offset: 0x4dn,
    make: patched(0x4dn, be32(3)),
    clean: true,
  },
  {
    id: "section.ram.instanceId",
    what: "ram instance 1",
    qemu: "rejects",
    offset: 0x49n,
    make: patched(0x49n, be32(1)),
    clean: true,
  },
  {
    id: "section.ram.missing",
    what: "no ram section at all",
    qemu: "wrongRam",
    // 0x40 SWITCHOVER_START, 0x45 timer (0x30 bytes), 0x75 globalstate (0x86 bytes), 0xfb EOF
    offset: 0xfbn,
    make: () => ({ file: small({ ram: false }) }),
  },
  {
    id: "section.ram.endMissing",
    what: "no ram SECTION_END",
    qemu: "loads",
    offset: 0x1100ecn - 18n,
    make: () => ({ file: small({ end: false }) }),
    clean: true,
  },
  // RAM records
  {
    id: "ram.flags.forbidden",
    what: "MULTIFD_FLUSH (0x200) instead of the setup EOS",
    qemu: "rejects",
    offset: 0x110000n,
    make: patched(0x110000n, be64(0x200n)),
  },
  {
    id: "ram.flags.forbidden",
    what: "a PAGE record (0x08) in a PART",
    qemu: "rejects",
    offset: 0x110012n,
    make: patched(0x110012n, be64(0x1000n | 0x08n)),
  },
  {
    id: "ram.flags.unknown",
    what: "COMPRESS_PAGE (0x100)",
    qemu: "rejects",
    offset: 0x110000n,
    make: patched(0x110000n, be64(0x100n)),
  },
  {
    id: "ram.flags.continue",
    what: "EOS | CONTINUE (0x30)",
    qemu: "loads",
    offset: 0x110000n,
    make: patched(0x110000n, be64(0x30n)),
    clean: true,
  },
  {
    id: "ram.memSize.missing",
    what: "a START section with only EOS",
    qemu: "wrongRam",
    offset: 0x51n,
    make: () => ({ file: small({ memSize: false }) }),
  },
  {
    id: "ram.memSize.mismatch",
    what: "MEM_SIZE total twice the block",
    qemu: "rejects",
    offset: 0x51n,
    make: patched(0x51n, be64(0x20000n | 4n)),
  },
  {
    id: "ram.memSize.mismatch",
    what: "MEM_SIZE total half the block",
    qemu: "rejects",
    offset: 0x51n,
    make: patched(0x51n, be64(0x8000n | 4n)),
  },
  {
    id: "ram.memSize.repeated",
    what: "a MEM_SIZE of 0 in the PART section",
    qemu: "loads",
    offset: 0x110012n,
    make: () => ({ file: insertAt(small(), 0x110012n, be64(4n)) }),
    clean: true,
  },
  // blocks
  {
    id: "ram.block.idstr.empty",
    what: "a block with an empty idstr",
    qemu: "rejects",
    offset: 0x59n,
    make: () => ({ file: buildFile({ blocks: [{ idstr: "", pages: 16 }] }).file }),
  },
  {
    id: "ram.block.idstr.duplicate",
    what: "two blocks r with different contents",
    qemu: "wrongRam",
    offset: 0x110000n,
    make: () => ({
      file: buildFile({
        blocks: [
          { idstr: "r", pages: 16, image: IMAGE },
          { idstr: "r", pages: 16, image: makeImage("noZero", 16) },
        ],
      }).file,
    }),
  },
  {
    id: "ram.block.usedLength.unaligned",
    what: "used_length 0x10800",
    qemu: "rejects",
    offset: 0x5bn,
    make: patched(0x5bn, be64(0x10800n)),
  },
  {
    id: "ram.block.usedLength.zero",
    what: "a block of 0 pages before a block of 16",
    qemu: { skip: "QEMU has no 0-length RAM block to load it into" },
    offset: 0x5bn,
    // QEMU reads blocks while the total is not used up: a 0-length block works only before another
    make: () => ({
      file: buildFile({
        blocks: [
          { idstr: "z", pages: 0 },
          { idstr: "r", pages: 16 },
        ],
      }).file,
    }),
    clean: true,
  },
  // the header
  {
    id: "ram.header.version.unsupported",
    what: "header version 2",
    qemu: "rejects",
    offset: 0x63n,
    make: patched(0x63n, be32(2)),
    clean: true,
  },
  {
    id: "ram.header.version.zero",
    what: "header version 0",
    qemu: "loads",
    offset: 0x63n,
    make: patched(0x63n, be32(0)),
    clean: true,
  },
  {
    id: "ram.header.pageSize.invalid",
    what: "page_size 8192",
    qemu: "wrongRam",
    offset: 0x67n,
    make: patched(0x67n, be64(8192n)),
    clean: true,
  },
  {
    id: "ram.header.pageSize.invalid",
    what: "page_size 0",
    qemu: "rejects",
    offset: 0x67n,
    make: patched(0x67n, be64(0n)),
  },
  {
    id: "ram.header.bitmapOffset.notAfterHeader",
    what: "the bitmap moved 8 bytes on",
    qemu: "loads",
    offset: 0x6fn,
    make: () => {
      const f = small();
      return { file: f.patch(0x6fn, be64(0x87n)).patch(0x87n, f.bytesAt(0x7fn, 8)) };
    },
    clean: true,
  },
  {
    id: "ram.header.pagesOffset.misaligned",
    what: "pages_offset 0x100800",
    qemu: "rejects",
    offset: 0x77n,
    make: patched(0x77n, be64(0x100800n)),
  },
  {
    id: "ram.header.pagesOffset.notMibAligned",
    what: "pages at 0x1000, the stream at 0x11000",
    qemu: "loads",
    offset: 0x77n,
    make: () => ({
      file: buildFile({ blocks: [{ idstr: "r", pages: 16, image: IMAGE, pagesAt: 0x1000n }] }).file,
    }),
    clean: true,
  },
  {
    id: "ram.header.pagesOffset.unexpected",
    what: "pages at 0x200000 instead of 0x100000",
    qemu: "loads",
    offset: 0x77n,
    make: () => ({
      file: buildFile({ blocks: [{ idstr: "r", pages: 16, image: IMAGE, pagesAt: 0x200000n }] }).file,
    }),
    clean: true,
  },
  // regions
  {
    id: "ram.layout.resumeBeforeHeader",
    what: "pages_offset 0 in a file saved at offset 2 MiB",
    qemu: "rejects",
    offset: 0x200077n,
    make: () => ({
      file: buildFile({ offset: 0x200000n, blocks: [{ idstr: "r", pages: 16 }] }).file.patch(
        0x200077n,
        be64(0n),
      ),
      options: { offset: 0x200000n },
    }),
  },
  {
    id: "ram.layout.overlap",
    what: "bitmap_offset pointing at the page array",
    qemu: "wrongRam",
    offset: 0x100000n,
    make: patched(0x6fn, be64(0x100000n)),
  },
  {
    id: "ram.layout.overlap",
    what: "a second block's bitmap inside the first block's pages",
    qemu: { skip: "-M none has one RAM block" },
    offset: 0x100800n,
    make: () => {
      const b = buildFile({
        blocks: [
          { idstr: "r", pages: 16 },
          { idstr: "s", pages: 16 },
        ],
      });
      return { file: b.file.patch((b.blocks[1]?.header ?? 0n) + 12n, be64(0x100800n)) };
    },
  },
  {
    id: "ram.bitmap.outOfFile",
    what: "the file ends inside the bitmap",
    qemu: "rejects",
    offset: 0x7fn,
    make: () => ({ file: small().truncate(0x80n) }),
  },
  {
    id: "ram.bitmap.outOfFile",
    what: "bitmap_offset far past the end",
    qemu: "rejects",
    offset: 0xffff0000n,
    make: patched(0x6fn, be64(0xffff0000n)),
  },
  {
    id: "ram.pages.outOfFile",
    what: "the spec 8 file cut at 0x500000",
    qemu: "rejects",
    ramPages: 2048,
    offset: 0x100000n,
    make: () => ({
      file: buildFile({ blocks: [{ idstr: "r", pages: 2048, image: SPEC8 }] }).file.truncate(0x500000n),
    }),
  },
  {
    id: "ram.pages.setBitPastEof",
    what: "the spec 8 file cut at 0x500000: page 1101 is the first set page past the end",
    qemu: "rejects",
    ramPages: 2048,
    offset: 0x100000n + 1101n * 0x1000n,
    make: () => ({
      file: buildFile({ blocks: [{ idstr: "r", pages: 2048, image: SPEC8 }] }).file.truncate(0x500000n),
    }),
  },
  {
    id: "ram.bitmap.trailingBits",
    what: "bit 20 set in a 16-page block",
    qemu: "loads",
    offset: 0x81n,
    make: patched(0x81n, [0x10]),
    clean: true,
  },
  {
    id: "ram.pages.staleUnderClearBit",
    what: "bytes under the clear bit of page 8",
    qemu: "loads",
    offset: 0x108000n,
    make: patched(0x108010n, [0xab]),
    clean: true,
  },
  // --ram
  {
    id: "ram.image.blockMissing",
    what: "--ram q=... on a file with only r",
    qemu: { skip: "a check of the caller's option" },
    offset: 0x59n,
    make: () => ({ file: small(), options: { ram: [{ idstr: "q", image: memorySource(IMAGE) }] } }),
    clean: true,
  },
  {
    id: "ram.image.sizeMismatch",
    what: "an 8-page image for a 16-page block",
    qemu: { skip: "a check of the caller's option" },
    offset: 0x5bn,
    make: () => ({
      file: small(),
      options: { ram: [{ idstr: "r", image: memorySource(IMAGE.slice(0, 8 * 4096)) }] },
    }),
  },
  {
    id: "ram.image.bitmapMismatch",
    what: "the image has page 8 non-zero, the file's bit 8 is clear",
    qemu: { skip: "a check of the caller's option" },
    offset: 0x80n,
    make: () => {
      const img = IMAGE.slice();
      img[8 * 4096 + 100] = 1;
      return { file: small(), options: { ram: [{ idstr: "r", image: memorySource(img) }] } };
    },
    clean: true,
  },
  {
    id: "ram.image.pageMismatch",
    what: "page 2 differs from the image in one byte",
    qemu: { skip: "a check of the caller's option" },
    offset: 0x102000n,
    make: () => ({
      file: small().patch(0x102005n, [0xfe]),
      options: { ram: [{ idstr: "r", image: memorySource(IMAGE) }] },
    }),
    clean: true,
  },
  // devices
  {
    id: "device.cannotWalk",
    what: "a device the oracle does not know, in a file without a vmdesc",
    qemu: { skip: "info: the oracle did not check it (QEMU rejects the unknown device)" },
    offset: 0x110036n,
    make: () => ({ file: small({ vmdesc: false }).patch(0x110036n + 6n, str("tim3r")) }),
    clean: true,
  },
  {
    id: "device.notInVmdesc",
    what: "a device section the file's vmdesc does not describe (timer renamed tim3r)",
    qemu: "rejects",
    offset: 0x110036n,
    make: patched(0x110036n + 6n, str("tim3r")),
  },
  {
    id: "device.version.unsupported",
    what: "timer version 3",
    qemu: "rejects",
    offset: 0x110036n + 15n,
    make: patched(0x110036n + 15n, be32(3)),
    clean: true,
  },
  {
    id: "device.globalstate.runstate",
    what: 'runstate "prelaunck"',
    qemu: "rejects",
    offset: 0x110066n + 29n,
    make: patched(0x110066n + 29n + 8n, str("k")),
    clean: true,
  },
  // vmdesc
  {
    id: "vmdesc.missing",
    what: "the file ends at EOF",
    qemu: "loads",
    offset: 0x1100edn,
    make: () => ({ file: small({ vmdesc: false }) }),
    clean: true,
  },
  {
    id: "vmdesc.sectionType.invalid",
    what: "0x07 after EOF",
    qemu: "loads",
    offset: 0x1100edn,
    make: patched(0x1100edn, [0x07]),
    clean: true,
  },
  {
    id: "vmdesc.length.outOfFile",
    what: "length 0x500 with 0x400 bytes left",
    qemu: "loads",
    offset: 0x1100een,
    make: patched(0x1100een, be32(0x500)),
    clean: true,
  },
  {
    id: "vmdesc.json.invalid",
    what: "a # in the JSON",
    qemu: "loads",
    offset: 0x1100f2n,
    make: patched(0x1100f2n + 1n, str("#")),
    clean: true,
  },
  {
    id: "vmdesc.pageSize.mismatch",
    what: '"page_size": 8192',
    qemu: "loads",
    offset: 0x1100f2n,
    make: () => {
      const f = small();
      const json = new TextDecoder()
        .decode(f.bytesAt(0x1100f2n, 1024))
        .replace('"page_size": 4096', '"page_size": 8192');
      return { file: f.patch(0x1100f2n, str(json)) };
    },
    clean: true,
  },
  {
    id: "vmdesc.trailingBytes",
    what: "a newline after the JSON",
    qemu: "loads",
    offset: 0x1104f2n,
    make: patched(0x1104f2n, [0x0a]),
    clean: true,
  },
  {
    id: "vmdesc.locate.failed",
    what: "a NUL after the JSON (analyze-migration.py finds no vmdesc)",
    qemu: "loads",
    offset: 0x1100edn,
    make: patched(0x1104f2n, [0x00]),
  },
  // libvirt save images (no --offset: the stream is found after the header)
  {
    id: "libvirt.magic.incomplete",
    what: "the magic is LibvirtQemudPart",
    qemu: LIBVIRT_SKIP,
    offset: 0n,
    make: () => ({ file: libvirtImage({ magic: "LibvirtQemudPart" }) }),
    clean: true,
  },
  {
    id: "libvirt.version.unsupported",
    what: "save-image version 1",
    qemu: LIBVIRT_SKIP,
    offset: 0x10n,
    make: () => ({ file: libvirtImage({ version: 1 }) }),
    clean: true,
  },
  {
    id: "libvirt.format.unknown",
    what: "format 9",
    qemu: LIBVIRT_SKIP,
    offset: 0x1cn,
    make: () => ({ file: libvirtImage({ format: 9 }) }),
    clean: true,
  },
  {
    id: "libvirt.format.compressed",
    what: "format 3 (xz)",
    qemu: LIBVIRT_SKIP,
    offset: 0x1cn,
    make: () => ({ file: libvirtImage({ format: 3 }) }),
    clean: true,
  },
  {
    id: "libvirt.format.mismatch",
    what: "format raw around a mapped-ram stream",
    qemu: LIBVIRT_SKIP,
    offset: 0x1cn,
    make: () => ({ file: libvirtImage({ format: 0 }) }),
    clean: true,
  },
  {
    id: "libvirt.dataLen.outOfFile",
    what: "data_len of 16 MiB in a 1 MiB file",
    qemu: LIBVIRT_SKIP,
    offset: 0x14n,
    make: () => ({ file: libvirtImage({ dataLen: 0x1000000 }) }),
    clean: true,
  },
  {
    id: "libvirt.xml.unterminated",
    what: "data filled with 'x' up to the stream: no NUL after the XML",
    qemu: LIBVIRT_SKIP,
    offset: 0x5cn,
    make: () => ({ file: libvirtImage().patch(0x5cn, new Uint8Array(LV_DATA_LEN).fill(0x78)) }),
  },
  {
    id: "libvirt.cookieOffset.invalid",
    what: "cookieOffset 5 points into the XML",
    qemu: LIBVIRT_SKIP,
    offset: 0x20n,
    make: () => ({ file: libvirtImage({ cookieOffset: 5 }) }),
    clean: true,
  },
  {
    id: "libvirt.cookie.unterminated",
    what: "the cookie and the padding filled with 'y': no NUL after the cookie",
    qemu: LIBVIRT_SKIP,
    offset: 0x7cn,
    make: () => ({ file: libvirtImage().patch(0x7cn, new Uint8Array(LV_DATA_LEN - 32).fill(0x79)) }),
    clean: true,
  },
  {
    id: "libvirt.unused.nonzero",
    what: "unused[0] = 1",
    qemu: LIBVIRT_SKIP,
    offset: 0x24n,
    make: () => ({ file: libvirtImage({ unused0: 1 }) }),
    clean: true,
  },
  // header 8 + configuration 9 = 0x11; capabilities subsection to 0x35 (count), "x-ignore-shared" to
  // 0x45, "mapped-ram" to 0x50; START 17 bytes to 0x61 (MEM_SIZE); record "r" 0x69, mr->addr 0x73,
  // MappedRamHeader 0x7b: bitmap_offset at 0x87, pages_offset at 0x8f.
  {
    id: "ram.block.ignored",
    what: "x-ignore-shared, block r's bitmap_offset and pages_offset zeroed (QEMU 11.0's ignored block)",
    qemu: { skip: "QEMU 10.0.2 cannot load x-ignore-shared mapped-ram files at all" },
    offset: 0x87n,
    make: () => ({
      file: buildFile({
        blocks: [{ idstr: "r", pages: 16, image: IMAGE }],
        capabilities: ["x-ignore-shared", "mapped-ram"],
      }).file.patch(0x87n, [...be64(0n), ...be64(0n)]),
    }),
  },
];
