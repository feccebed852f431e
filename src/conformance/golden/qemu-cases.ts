// QEMU-made goldens: stopped `-M none`, `pc` and `q35` VMs with pattern RAM saved by QEMU 10.0.2 (plain,
// multifd, offsets, zero-page detection), and live saves with guest writes over qtest.
import type { BlockParam, QemuSaveParams, Requirement } from "../model.js";
import {
  type QemuGoldenDef,
  SPEC_BITMAP,
  SPEC_FILE,
  SPEC_MULTIFD,
  SPEC_SETUP,
  SPEC_ZERO,
  VALID,
} from "./def-common.js";

/** QEMU before 10.0 writes no SWITCHOVER_START (spec 1.4), so its bytes differ. */
const SWITCHOVER_10: Requirement = {
  version: "10.0.0",
  reason: "QEMU before 10.0 writes no SWITCHOVER_START",
};

const SPEC8: BlockParam = { id: "r", size: "0x800000", pattern: { kind: "spec8" } };

function none(
  id: string,
  description: string,
  checks: string[],
  p: Partial<QemuSaveParams> & { multifd?: number },
): QemuGoldenDef {
  const { multifd, ...rest } = p;
  const params: QemuSaveParams = {
    machine: "none",
    blocks: [SPEC8],
    memoryBackend: "r",
    capabilities: multifd === undefined ? { "mapped-ram": true } : { "mapped-ram": true, multifd: true },
    parameters: multifd === undefined ? {} : { "multifd-channels": multifd },
    ...rest,
  };
  if (params.memory !== undefined) delete params.memoryBackend;
  if (multifd !== undefined && rest.parameters !== undefined) {
    params.parameters = { "multifd-channels": multifd, ...rest.parameters };
  }
  return {
    by: "qemu",
    id,
    description,
    checks,
    params,
    compare: "bytes",
    expect: VALID,
    requires: { write: SWITCHOVER_10 },
  };
}

export const QEMU_DEFS: readonly QemuGoldenDef[] = [
  none(
    "qemu.none.spec8",
    "8 MiB spec section 8 pattern, mapped-ram alone, offset 0 (the spec's reference file)",
    ["spec 8.1", SPEC_SETUP, SPEC_BITMAP],
    {},
  ),
  ...[1, 2, 4, 8].map((n) =>
    none(
      `qemu.none.spec8.multifd${n}`,
      `the spec8 VM with multifd on, ${n} channel${n > 1 ? "s" : ""}: same bytes as without multifd`,
      ["spec 2.7", SPEC_MULTIFD, "migration/file.c: file_write_ramblock_iov"],
      { multifd: n },
    ),
  ),
  none(
    "qemu.none.spec8.offset0",
    "the spec8 VM saved to file:...,offset=0 with 2 channels",
    ["spec 4.4", SPEC_FILE],
    { multifd: 2, offset: "0" },
  ),
  none(
    "qemu.none.spec8.offset4k",
    "offset 0x1000: header moves, pages_offset stays 0x100000 (absolute 1 MiB rounding)",
    ["spec 4.4", SPEC_SETUP],
    { multifd: 2, offset: "0x1000" },
  ),
  none(
    "qemu.none.spec8.offset12345",
    "unaligned offset 12345 after an 'X'-filled prefix that must survive",
    ["spec 4.4", SPEC_FILE, "tests/qtest/migration/framework.c: file_check_offset_region"],
    { offset: "12345", prefix: { kind: "fill", byte: 0x58, length: 12345 } },
  ),
  none("qemu.none.spec8.offset1m", "offset 1 MiB: pages_offset 0x200000", ["spec 4.4", SPEC_SETUP], {
    multifd: 4,
    offset: "0x100000",
  }),
  none(
    "qemu.none.spec8.offset1fff00",
    "offset 0x1fff00: the header sits just below a 1 MiB boundary, pages_offset 0x300000",
    ["spec 4.4", SPEC_SETUP],
    { multifd: 4, offset: "0x1fff00" },
  ),
  none(
    "qemu.none.spec8.libvirt",
    "libvirt-like save: a 0x1054e-byte libvirt header before the stream (unaligned offset, non-zero prefix kept), multifd with 1 channel",
    ["libvirt-sparse.md 5.1", "spec 4.4", SPEC_FILE],
    { multifd: 1, offset: "0x1054e", prefix: { kind: "libvirt", length: 0x1054e } },
  ),
  none(
    "qemu.none.spec8.zpdNone",
    "zero-page-detection=none: every page written, every bit set",
    ["spec 2.6", SPEC_ZERO],
    { parameters: { "zero-page-detection": "none" } },
  ),
  none(
    "qemu.none.spec8.zpdNone.multifd2",
    "zero-page-detection=none with 2 multifd channels",
    ["spec 2.7", SPEC_MULTIFD],
    { multifd: 2, parameters: { "zero-page-detection": "none" } },
  ),
  none(
    "qemu.none.spec8.zpdLegacy",
    "zero-page-detection=legacy: same file as the default",
    ["spec 2.6", SPEC_ZERO],
    { parameters: { "zero-page-detection": "legacy" } },
  ),
  none(
    "qemu.none.spec8.zpdLegacy.multifd2",
    "zero-page-detection=legacy with multifd: zero pages found by the main thread",
    ["spec 2.7", SPEC_ZERO],
    { multifd: 2, parameters: { "zero-page-detection": "legacy" } },
  ),
  none(
    "qemu.none.spec8.zpdMultifd.multifd2",
    "zero-page-detection=multifd (the default) given explicitly, 2 channels",
    ["spec 2.7", "migration/multifd-zero-page.c: multifd_send_zero_page_detect"],
    { multifd: 2, parameters: { "zero-page-detection": "multifd" } },
  ),
  none(
    "qemu.none.zero64m",
    "64 MiB of zero RAM: an empty bitmap and a page array that is all hole",
    ["spec 2.6", SPEC_ZERO],
    { multifd: 4, blocks: [{ id: "r", size: "0x4000000", pattern: { kind: "zero" } }] },
  ),
  none("qemu.none.fill1m", "1 MiB without a zero page: every bit set", ["spec 2.5", SPEC_BITMAP], {
    blocks: [{ id: "r", size: "0x100000", pattern: { kind: "fill", byte: 0xa5 } }],
  }),
  none(
    "qemu.none.stripes1000p",
    "1000 pages (a bitmap whose last 64-bit word is partial), runs of 17 set bits every 64 pages",
    ["spec 2.5", SPEC_BITMAP],
    {
      multifd: 2,
      blocks: [{ id: "r", size: "0x3e8000", pattern: { kind: "stripes", period: 64, run: 17 } }],
    },
  ),
  none(
    "qemu.none.edges32m",
    "32 MiB with only the first, middle and last pages non-zero",
    ["spec 2.5", "migration/ram.c: read_ramblock_mapped_ram"],
    { multifd: 8, blocks: [{ id: "r", size: "0x2000000", pattern: { kind: "edges" } }] },
  ),
  none(
    "qemu.none.defaultRam8m",
    '-M none -m 8M: the block is QEMU\'s own "ram", not a backend',
    ["spec 2.2", "spec 8.1"],
    { blocks: [], memory: "8M" },
  ),
  {
    by: "qemu",
    id: "qemu.pc.stripes16m",
    description:
      "pc machine: 16 MiB backend plus the ACPI, BIOS and option ROM blocks, each in its own 1 MiB slot",
    checks: ["spec 2.3", SPEC_SETUP, "system/physmem.c: qemu_ram_block_add"],
    params: {
      machine: "pc",
      blocks: [{ id: "r", size: "0x1000000", pattern: { kind: "stripes", period: 7, run: 3 } }],
      memoryBackend: "r",
      capabilities: { "mapped-ram": true, multifd: true },
      parameters: { "multifd-channels": 2 },
    },
    compare: "ram",
    expect: VALID,
    requires: { write: SWITCHOVER_10 },
  },
  {
    by: "qemu",
    id: "qemu.q35.numa2",
    description:
      "q35 machine with two NUMA nodes, each backed by its own file (16 MiB and 8 MiB), plus the ROM blocks",
    checks: ["spec 2.2", "system/physmem.c: qemu_ram_block_add", SPEC_SETUP],
    params: {
      machine: "q35",
      blocks: [
        { id: "m0", size: "0x1000000", pattern: { kind: "stripes", period: 5, run: 2 } },
        { id: "m1", size: "0x800000", pattern: { kind: "spec8" } },
      ],
      extraArgs: ["-m", "24M", "-numa", "node,memdev=m0", "-numa", "node,memdev=m1"],
      capabilities: { "mapped-ram": true },
      parameters: {},
    },
    compare: "ram",
    expect: VALID,
    requires: { write: SWITCHOVER_10 },
  },
  {
    by: "qemu",
    id: "qemu.pc.live16m",
    description:
      "live save of a pc VM (8 MiB/s) while the guest zeroes sent pages, rewrites sent pages and changes unsent ones (qtest), multifd 2",
    checks: ["spec 2.6", SPEC_ZERO, "migration/ram.c: find_dirty_block", SPEC_BITMAP],
    params: {
      machine: "pc",
      blocks: [{ id: "r", size: "0x1000000", pattern: { kind: "stripes", period: 3, run: 2 } }],
      memoryBackend: "r",
      capabilities: { "mapped-ram": true, multifd: true },
      parameters: { "multifd-channels": 2 },
      live: {
        maxBandwidth: 8 << 20,
        afterBytes: 6 << 20,
        block: "r",
        writes: [
          { firstPage: 256, count: 64, byte: 0 },
          { firstPage: 320, count: 64, byte: 0x77 },
          { firstPage: 3000, count: 12, byte: 0x33 },
          { firstPage: 3900, count: 64, byte: 0 },
        ],
      },
    },
    compare: "validity",
    expect: { verdict: "valid", findings: [], info: ["ram.pages.staleUnderClearBit"] },
  },
  {
    by: "qemu",
    id: "qemu.pc.live16m.zpdNone",
    description:
      "the same live save with zero-page-detection=none and no multifd: zeroed pages are written as zeros, bits stay set",
    checks: ["spec 2.6", SPEC_ZERO],
    params: {
      machine: "pc",
      blocks: [{ id: "r", size: "0x1000000", pattern: { kind: "stripes", period: 3, run: 2 } }],
      memoryBackend: "r",
      capabilities: { "mapped-ram": true },
      parameters: { "zero-page-detection": "none" },
      live: {
        maxBandwidth: 8 << 20,
        afterBytes: 6 << 20,
        block: "r",
        writes: [
          { firstPage: 256, count: 64, byte: 0 },
          { firstPage: 320, count: 64, byte: 0x77 },
          { firstPage: 3000, count: 12, byte: 0x33 },
          { firstPage: 3900, count: 64, byte: 0 },
        ],
      },
    },
    compare: "validity",
    expect: VALID,
  },
];
