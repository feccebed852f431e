// Writer-made goldens: what QEMU 10.0 cannot produce but readers must handle or reject — the reference
// writer's file for a 100-page `-M none` VM, changed by byte-level mutations (RFC and 11.0 variants,
// header fields, bitmap bits, forbidden records, truncation at every structural boundary).
import type { BlockParam, Expectation, WriterParams } from "../model.js";
import {
  be,
  type HandExpectation,
  hx,
  LOAD_HEADER,
  type MutationContext,
  SPEC_BITMAP,
  SPEC_SETUP,
  SPEC_ZERO,
  type StreamRecord,
  VALID,
  type WriterGoldenDef,
} from "./def-common.js";

/** The writer-made base: `-M none`, one 100-page block (two bitmap words, the second partial). */
const BASE_BLOCK: BlockParam = { id: "r", size: "0x64000", pattern: { kind: "stripes", period: 8, run: 5 } };
const BASE: WriterParams = { machine: "none", blocks: [BASE_BLOCK] };

function block0(ctx: MutationContext) {
  const b = ctx.save.blocks[0];
  if (!b) throw new Error("the base file has no block");
  return b;
}

function record(ctx: MutationContext, pred: (r: StreamRecord) => boolean, what: string) {
  const r = ctx.stream?.records.find(pred);
  if (!r) throw new Error(`the base file has no ${what}`);
  return r;
}

const partRecord = (ctx: MutationContext) =>
  record(ctx, (r) => r.kind === "section" && r.type === "part", "PART");
const endRecord = (ctx: MutationContext) =>
  record(ctx, (r) => r.kind === "section" && r.type === "end", "END");
const commandRecord = (ctx: MutationContext) => record(ctx, (r) => r.kind === "command", "command");
const fullRecord = (ctx: MutationContext) =>
  record(ctx, (r) => r.kind === "section" && r.type === "full", "FULL");
const eofRecord = (ctx: MutationContext) => record(ctx, (r) => r.kind === "eof", "EOF");
const ramStart = (ctx: MutationContext) =>
  record(ctx, (r) => r.kind === "section" && r.type === "start", "START");

function writer(
  id: string,
  description: string,
  checks: string[],
  expect: HandExpectation,
  mutations?: WriterGoldenDef["mutations"],
  params: WriterParams = BASE,
): WriterGoldenDef {
  return { by: "writer", id, description, checks, expect, params, ...(mutations ? { mutations } : {}) };
}

const invalid = (findings: string[], reader: string, qemu: Expectation["qemu"]): HandExpectation => ({
  verdict: "invalid",
  findings,
  reader: { code: reader },
  ...(qemu ? { qemu } : {}),
});

const EINVAL = "load of migration failed: Invalid argument";
const EIO = "load of migration failed: Input/output error";
const ENOTSUP = "load of migration failed: Operation not supported";
/** QEMU as reader: the QMP error-desc, and the first line QEMU printed (as QEMU 10.0.2 answered). */
const q = (errorDesc: string, stderrIncludes?: string): NonNullable<Expectation["qemu"]> =>
  stderrIncludes === undefined ? { errorDesc } : { errorDesc, stderrIncludes };

function truncation(
  name: string,
  description: string,
  at: (ctx: MutationContext) => bigint,
  expect: HandExpectation,
  checks: string[],
): WriterGoldenDef {
  return writer(`writer.truncated.${name}`, `truncated ${description}`, checks, expect, (ctx) => [
    { op: "truncate", at: hx(at(ctx)), why: `cut ${description}` },
  ]);
}

/** A truncated file: the oracle reports `findings` (default stream.truncated), our reader ERR_TRUNCATED. */
const cut = (qemu: Expectation["qemu"], findings = ["stream.truncated"]) =>
  invalid(findings, "ERR_TRUNCATED", qemu);

export const WRITER_DEFS: readonly WriterGoldenDef[] = [
  writer(
    "writer.none.stripes100p",
    "the writer-made base: 100 pages, runs of 5 set bits every 8",
    ["spec 10", SPEC_SETUP],
    VALID,
  ),
  writer(
    "writer.capability.fixedRam",
    "RFC v3 capability name: the configuration lists fixed-ram instead of mapped-ram (every offset before the first 1 MiB boundary is one byte lower); readers may accept it",
    ["spec 7"],
    {
      verdict: "nonstrict",
      findings: ["config.capabilities.mappedRamMissing", "config.capabilities.unknown"],
      qemu: q(EINVAL, "Received unknown capability fixed-ram"),
    },
    undefined,
    { ...BASE, capabilities: ["fixed-ram"] },
  ),
  writer(
    "writer.ignoredBlock.v11",
    "QEMU 11.0 style x-ignore-shared file: every block carries mr->addr, an ignored block has bitmap_offset == pages_offset == 0 and no reserved space",
    ["spec 5.4", "spec 7", "scripts/analyze-migration.py (11.0)"],
    {
      verdict: "nonstrict",
      findings: ["config.capabilities.ignoreShared"],
      qemu: q(EINVAL, "Error reading ramblock r pages, region has bad alignment"),
    },
    (ctx) => {
      const b = block0(ctx);
      const memSizeAt = ramStart(ctx).offset + 1n + 4n + 1n + 3n + 4n + 4n;
      const ignored = { idstr: "shared", usedLength: 0x10000n, addr: 0x100000n };
      const rec =
        be(ignored.idstr.length, 1) +
        Buffer.from(ignored.idstr, "latin1").toString("hex") +
        be(ignored.usedLength, 8) +
        be(ignored.addr, 8) +
        be(1, 4) +
        be(4096, 8) +
        be(0, 8) +
        be(0, 8);
      return [
        {
          op: "patch",
          at: hx(memSizeAt),
          hex: be((0x64000n + ignored.usedLength) | 4n, 8),
          why: "MEM_SIZE counts the ignored block (ram_bytes_total_with_ignored)",
        },
        {
          op: "insert",
          at: hx(b.end),
          hex: rec,
          why: 'ignored block "shared" after the last page array: mr->addr, a header with zero offsets, no reserved region',
        },
      ];
    },
    { ...BASE, capabilities: ["x-ignore-shared", "mapped-ram"], mrAddr: { r: "0x0" } },
  ),
  writer(
    "writer.header.version0",
    "MappedRamHeader version 0 (QEMU 10.0 accepts it, never writes it)",
    [LOAD_HEADER],
    { verdict: "nonstrict", findings: ["ram.header.version.zero"] },
    (ctx) => [{ op: "patch", at: hx(block0(ctx).headerOffset), hex: be(0, 4), why: "version 0" }],
  ),
  writer(
    "writer.header.version2",
    "MappedRamHeader version 2",
    [LOAD_HEADER],
    invalid(
      ["ram.header.version.unsupported"],
      "ERR_UNSUPPORTED_VERSION",
      q(EINVAL, "Migration mapped-ram capability version not supported (expected <= 1, got 2)"),
    ),
    (ctx) => [{ op: "patch", at: hx(block0(ctx).headerOffset), hex: be(2, 4), why: "version 2" }],
  ),
  writer(
    "writer.header.pageSize8192",
    "page_size 8192: QEMU 10.0 does not check it and silently loads only half of the RAM",
    [LOAD_HEADER, "spec 5.4.3"],
    // QEMU 10.0.2 completes this load (wrong RAM): expected to fail in expectations/qemu-10.0.txt.
    invalid(["ram.header.pageSize.invalid"], "ERR_INVALID_VALUE", q(EINVAL)),
    (ctx) => [
      { op: "patch", at: hx(block0(ctx).headerOffset + 4n), hex: be(8192, 8), why: "page_size 0x2000" },
    ],
  ),
  writer(
    "writer.header.pagesOffset.pageAligned",
    "pages_offset 4 KiB-aligned but not 1 MiB-aligned, with the page array really there (QEMU 10.0 loads it)",
    [LOAD_HEADER, SPEC_SETUP],
    { verdict: "nonstrict", findings: ["ram.header.pagesOffset.notMibAligned"] },
    (ctx) => {
      const b = block0(ctx);
      return [
        { op: "patch", at: hx(b.headerOffset + 20n), hex: be(0x1000, 8), why: "pages_offset 0x1000" },
        {
          op: "remove",
          at: "0x1000",
          length: hx(b.pagesOffset - 0x1000n),
          why: "the page array moves down to 0x1000",
        },
      ];
    },
  ),
  writer(
    "writer.header.pagesOffset.misaligned",
    "pages_offset not a multiple of the page size",
    [LOAD_HEADER],
    invalid(
      ["ram.header.pagesOffset.misaligned"],
      "ERR_INVALID_VALUE",
      q(EINVAL, "Error reading ramblock r pages, region has bad alignment"),
    ),
    (ctx) => [
      {
        op: "patch",
        at: hx(block0(ctx).headerOffset + 20n),
        hex: be(0x100800, 8),
        why: "pages_offset 0x100800",
      },
    ],
  ),
  writer(
    "writer.header.pagesOffset.pastEnd",
    "pages_offset 1 MiB-aligned but past the end of the file",
    [LOAD_HEADER, "migration/ram.c: read_ramblock_mapped_ram"],
    invalid(
      ["ram.pages.outOfFile", "ram.pages.setBitPastEof"],
      "ERR_TRUNCATED",
      q(EINVAL, "(r) failed to read page 0from file offset 200000: Partial read of size 0, expected 20480"),
    ),
    (ctx) => [
      {
        op: "patch",
        at: hx(block0(ctx).headerOffset + 20n),
        hex: be(0x200000, 8),
        why: "pages_offset 0x200000",
      },
    ],
  ),
  writer(
    "writer.bitmap.trailingBits",
    "bits past num_pages set in the last bitmap word (QEMU 10.0 ignores them)",
    [SPEC_BITMAP, "migration/ram.c: read_ramblock_mapped_ram"],
    { verdict: "nonstrict", findings: ["ram.bitmap.trailingBits"] },
    async (ctx) => {
      const b = block0(ctx);
      // 100 pages: bits 100..127 are the high nibble of byte 12 and bytes 13..15
      const byte12 = (await ctx.readAt(b.bitmapOffset + 12n, 1))[0] ?? 0;
      return [
        {
          op: "patch",
          at: hx(b.bitmapOffset + 12n),
          hex: `${be(byte12 | 0xf0, 1)}ffffff`,
          why: "set bits 100..127",
        },
      ];
    },
  ),
  writer(
    "writer.ram.multifdFlush",
    "a RAM_SAVE_FLAG_MULTIFD_FLUSH record in a PART section",
    ["migration/ram.c: ram_load_precopy", "spec 2.1"],
    invalid(["ram.flags.forbidden"], "ERR_BAD_RAM_FLAGS", q(EINVAL, "Unexpected RAM flags: 512")),
    (ctx) => [
      {
        op: "insert",
        at: hx(partRecord(ctx).offset + 5n),
        hex: be(0x200, 8),
        why: "MULTIFD_FLUSH before the PART's EOS",
      },
    ],
  ),
  writer(
    "writer.section.footerMismatch",
    "the RAM END section's footer names section id 2",
    ["migration/savevm.c: check_section_footer"],
    invalid(
      ["section.footer.mismatch"],
      "ERR_BAD_FOOTER",
      q(EINVAL, "Mismatched section id in footer for ram - read 0x2 expected 0x1"),
    ),
    (ctx) => [
      { op: "patch", at: hx(endRecord(ctx).offset + 14n), hex: be(2, 4), why: "footer section_id 2" },
    ],
  ),
  writer(
    "writer.stream.version2",
    "stream version 2 (QEMU_VM_FILE_VERSION_COMPAT)",
    ["migration/savevm.c: qemu_loadvm_state_header"],
    invalid(
      ["stream.version.unsupported"],
      "ERR_UNSUPPORTED_VERSION",
      q(ENOTSUP, "SaveVM v2 format is obsolete and don't work anymore"),
    ),
    () => [{ op: "patch", at: "0x4", hex: be(2, 4), why: "version 2" }],
  ),
  writer(
    "writer.config.noCapabilities",
    "a mapped-ram layout whose configuration lists no capability",
    ["migration/savevm.c: configuration_validate_capabilities"],
    invalid(
      ["config.capabilities.mappedRamMissing"],
      "ERR_BAD_RAM_FLAGS",
      q(EINVAL, "Capability mapped-ram is on, but received capability is off"),
    ),
    undefined,
    { ...BASE, capabilities: [] },
  ),
  writer(
    "writer.stream.noSwitchover",
    "no SWITCHOVER_START command (what machine types <= 9.2 write)",
    ["spec 1.4", "hw/core/machine.c: hw_compat_9_2"],
    VALID,
    undefined,
    { ...BASE, switchoverStart: false },
  ),
  writer(
    "writer.stream.noVmdesc",
    "no vmdesc after EOF (suppress-vmdesc)",
    ["spec 3"],
    { verdict: "valid", findings: [], info: ["vmdesc.missing"] },
    undefined,
    { ...BASE, vmdesc: false },
  ),
  writer(
    "writer.live.zeroedPage",
    "a second round zeroes two sent pages (bit cleared, old data left) and rewrites a third",
    ["spec 2.6", SPEC_ZERO],
    { verdict: "valid", findings: [], info: ["ram.pages.staleUnderClearBit"] },
    undefined,
    {
      ...BASE,
      rounds: [
        {
          block: "r",
          writes: [
            { firstPage: 0, count: 2, byte: 0 },
            { firstPage: 9, count: 1, byte: 0x42 },
          ],
        },
      ],
    },
  ),
  truncation("empty", "to 0 bytes", () => 0n, cut(q(EINVAL, "Not a migration stream")), [
    "migration/savevm.c: qemu_loadvm_state_header",
  ]),
  truncation("magic", "inside the magic", () => 2n, cut(q(EINVAL, "Not a migration stream")), [
    "migration/savevm.c: qemu_loadvm_state_header",
  ]),
  truncation(
    "version",
    "inside the stream version",
    () => 6n,
    cut(q(ENOTSUP, "Unsupported migration stream version")),
    ["migration/savevm.c: qemu_loadvm_state_header"],
  ),
  truncation(
    "configuration",
    "inside the configuration/capabilities subsection",
    () => 0x20n,
    cut(q(EINVAL, "Capability mapped-ram is on, but received capability is off")),
    ["migration/savevm.c: vmstate_configuration"],
  ),
  truncation(
    "ramSectionHeader",
    "inside the ram SECTION_START header",
    (c) => ramStart(c).offset + 3n,
    cut(q(EINVAL, "Unable to read ID string for section 0")),
    ["migration/savevm.c: qemu_loadvm_section_start_full"],
  ),
  truncation(
    "memSize",
    "inside the MEM_SIZE record",
    (c) => ramStart(c).offset + 17n + 4n,
    cut(q(EIO, "Getting RAM address failed")),
    ["migration/ram.c: ram_load_precopy"],
  ),
  truncation(
    "blockRecord",
    "inside a block record (after the idstr length)",
    (c) => block0(c).recordOffset + 1n,
    cut(q(EINVAL, 'Unknown ramblock "", cannot accept migration')),
    ["migration/ram.c: parse_ramblocks"],
  ),
  truncation(
    "mappedRamHeader",
    "after 10 bytes of the MappedRamHeader",
    (c) => block0(c).headerOffset + 10n,
    cut(q(EINVAL, "Could not read whole mapped-ram migration header (expected 28, got 10 bytes)")),
    [LOAD_HEADER],
  ),
  truncation(
    "bitmap",
    "inside the bitmap",
    (c) => block0(c).bitmapOffset + 8n,
    cut(q(EINVAL, "Error reading dirty bitmap"), ["ram.bitmap.outOfFile", "ram.pages.outOfFile"]),
    [LOAD_HEADER],
  ),
  truncation(
    "padding",
    "after the bitmap, before the page array",
    (c) => block0(c).bitmapOffset + 0x100n,
    cut(
      q(EINVAL, "(r) failed to read page 0from file offset 100000: Partial read of size 0, expected 20480"),
      ["ram.pages.outOfFile", "ram.pages.setBitPastEof"],
    ),
    ["migration/ram.c: read_ramblock_mapped_ram"],
  ),
  truncation(
    "pages",
    "in the middle of a page of the page array",
    (c) => block0(c).pagesOffset + 0x20800n,
    cut(
      q(
        EINVAL,
        "(r) failed to read page 20000from file offset 120000: Partial read of size 2048, expected 20480",
      ),
      ["ram.pages.outOfFile", "ram.pages.setBitPastEof"],
    ),
    ["migration/ram.c: read_ramblock_mapped_ram"],
  ),
  truncation(
    "setupEos",
    "where the stream resumes after the page array",
    (c) => block0(c).end,
    cut(q(EIO, "Getting RAM address failed")),
    ["migration/ram.c: parse_ramblock_mapped_ram"],
  ),
  truncation(
    "part",
    "inside a SECTION_PART",
    (c) => partRecord(c).offset + 9n,
    cut(q(EIO, "Getting RAM address failed")),
    ["migration/savevm.c: qemu_loadvm_section_part_end"],
  ),
  truncation(
    "switchover",
    "inside the SWITCHOVER_START command",
    (c) => commandRecord(c).offset + 3n,
    cut(q(EIO)),
    ["migration/savevm.c: loadvm_process_command"],
  ),
  truncation(
    "sectionEnd",
    "inside the RAM SECTION_END",
    (c) => endRecord(c).offset + 5n,
    cut(q(EIO, "Getting RAM address failed")),
    ["migration/savevm.c: qemu_loadvm_section_part_end"],
  ),
  truncation(
    "device",
    "inside the first device section",
    (c) => fullRecord(c).offset + 20n,
    cut(q(EIO, "Failed to load timer:cpu_ticks_offset")),
    ["migration/vmstate.c: vmstate_load_state"],
  ),
  truncation(
    "eof",
    "before the QEMU_VM_EOF byte",
    (c) => eofRecord(c).offset,
    cut(q(EIO), ["stream.eof.missing"]),
    ["migration/savevm.c: qemu_loadvm_state_main"],
  ),
  truncation(
    "vmdesc",
    "right after QEMU_VM_EOF (no vmdesc at all; QEMU only warns)",
    (c) => eofRecord(c).offset + 1n,
    { verdict: "nonstrict", findings: [], info: ["vmdesc.missing"] },
    ["migration/savevm.c: qemu_loadvm_state (vmdesc tail)"],
  ),
  truncation(
    "vmdescJson",
    "inside the vmdesc JSON (QEMU skips it without checking)",
    (c) => eofRecord(c).offset + 1n + 5n + 100n,
    { verdict: "nonstrict", findings: ["vmdesc.length.outOfFile"] },
    ["migration/savevm.c: qemu_loadvm_state (vmdesc tail)"],
  ),
];
