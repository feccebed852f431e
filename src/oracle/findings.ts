// The oracle's finding vocabulary: every check as data (stable dotted id, severity, one line, QEMU source).
//
// Severities:
// - `fail`      QEMU 10.0.2 would reject the file, or would load different RAM than the file says.
// - `nonstrict` QEMU 10.0.2's reader accepts it, but QEMU 10.0.2's writer never produces it.
// - `info`      worth knowing, not wrong (e.g. stale bytes under a clear bit after a live save).
//
// Ids never change meaning; new checks get new ids. Offsets in findings are absolute file offsets.
import { hex } from "./bytes.js";

export type Severity = "fail" | "nonstrict" | "info";

export interface FindingCase {
  readonly id: string;
  readonly severity: Severity;
  readonly description: string;
  /** the QEMU 10.0.2 source (or tool) whose behaviour decides the severity */
  readonly source: string;
}

const SAVEVM_LOAD = "migration/savevm.c: qemu_loadvm_state_main";
const CONFIG = "migration/savevm.c: vmstate_configuration, configuration_post_load";
const RAM_LOAD = "migration/ram.c: ram_load_precopy";
const PARSE_BLOCKS = "migration/ram.c: parse_ramblocks";
const PARSE_MAPPED = "migration/ram.c: parse_ramblock_mapped_ram, mapped_ram_read_header";
const SETUP = "migration/ram.c: mapped_ram_setup_ramblock";
const READ_MAPPED = "migration/ram.c: read_ramblock_mapped_ram";
const VMDESC_LOAD = "migration/savevm.c: qemu_loadvm_state (vmdesc tail)";
const LIBVIRT = "libvirt src/qemu/qemu_saveimage.c: qemuSaveImageReadHeader";

// biome-ignore format: a table reads best one case per line
export const FINDING_CASES = [
  // the stream
  { id: "stream.truncated", severity: "fail", description: "the file ends inside a structure", source: "migration/qemu-file.c: short read" },
  { id: "stream.magic.invalid", severity: "fail", description: "the stream does not start with QEVM", source: "migration/savevm.c: qemu_loadvm_state_header" },
  { id: "stream.version.unsupported", severity: "fail", description: "the stream version is not 3", source: "migration/savevm.c: qemu_loadvm_state_header" },
  { id: "stream.sectionType.unknown", severity: "fail", description: "a record type byte QEMU does not know here", source: SAVEVM_LOAD },
  { id: "stream.command.unexpected", severity: "fail", description: "a QEMU_VM_COMMAND other than SWITCHOVER_START in a file", source: "migration/savevm.c: loadvm_process_command" },
  { id: "stream.command.badLength", severity: "fail", description: "SWITCHOVER_START with a length other than 0", source: "migration/savevm.c: loadvm_process_command" },
  { id: "stream.eof.missing", severity: "fail", description: "the file ends between records without QEMU_VM_EOF", source: SAVEVM_LOAD },
  // configuration section
  { id: "config.missing", severity: "fail", description: "no QEMU_VM_CONFIGURATION after the header", source: "migration/savevm.c: qemu_loadvm_state_header" },
  { id: "config.machine.invalid", severity: "fail", description: "the machine type name is empty or not printable", source: CONFIG },
  { id: "config.machine.mismatch", severity: "fail", description: "the machine type name is not the one asked for", source: CONFIG },
  { id: "config.subsection.unknown", severity: "fail", description: "a configuration subsection QEMU does not know", source: "migration/vmstate.c: vmstate_subsection_load" },
  { id: "config.subsection.version", severity: "fail", description: "a configuration subsection version other than 1", source: "migration/vmstate.c: vmstate_load_state" },
  { id: "config.pageBits.mismatch", severity: "fail", description: "configuration/target-page-bits is not 12", source: CONFIG },
  { id: "config.pageBits.present", severity: "nonstrict", description: "configuration/target-page-bits is present (never written on x86_64)", source: "migration/savevm.c: vmstate_target_page_bits_needed" },
  { id: "config.capabilities.mappedRamMissing", severity: "fail", description: "the configuration does not list mapped-ram", source: "migration/savevm.c: configuration_validate_capabilities" },
  { id: "config.capabilities.unknown", severity: "fail", description: "a capability name QEMU does not know", source: "migration/savevm.c: get_capability" },
  { id: "config.capabilities.notCanonical", severity: "nonstrict", description: "a capability listed that QEMU never lists, twice, or out of enum order", source: "migration/savevm.c: put_capability, should_validate_capability" },
  { id: "config.capabilities.ignoreShared", severity: "fail", description: "x-ignore-shared with mr->addr fields: 10.0.2 writes them but its loader does not read them", source: "migration/ram.c: parse_ramblock (spec 5.4)" },
  // sections
  { id: "section.footer.missing", severity: "fail", description: "a section is not followed by a footer", source: "migration/savevm.c: check_section_footer" },
  { id: "section.footer.mismatch", severity: "fail", description: "a section footer names another section id", source: "migration/savevm.c: check_section_footer" },
  { id: "section.id.unknown", severity: "fail", description: "a PART/END section for a section id never started", source: "migration/savevm.c: qemu_loadvm_section_part_end" },
  { id: "section.ram.version", severity: "fail", description: "the ram section version is not 4", source: "migration/ram.c: ram_load" },
  { id: "section.ram.instanceId", severity: "fail", description: "the ram section instance id is not 0", source: "migration/savevm.c: find_se" },
  { id: "section.ram.missing", severity: "fail", description: "the stream has no ram section (no RAM at all)", source: "migration/ram.c: ram_save_setup" },
  { id: "section.ram.endMissing", severity: "nonstrict", description: "the ram section has no SECTION_END (the writer writes the bitmap there)", source: "migration/ram.c: ram_save_complete" },
  // RAM records
  { id: "ram.flags.forbidden", severity: "fail", description: "a RAM record with ZERO, PAGE, XBZRLE, HOOK or MULTIFD_FLUSH", source: RAM_LOAD },
  { id: "ram.flags.unknown", severity: "fail", description: "a RAM record flag combination QEMU does not know", source: RAM_LOAD },
  { id: "ram.flags.continue", severity: "nonstrict", description: "RAM_SAVE_FLAG_CONTINUE on MEM_SIZE or EOS (ignored by the reader)", source: RAM_LOAD },
  { id: "ram.memSize.missing", severity: "fail", description: "the ram START section has no MEM_SIZE record (no RAM is loaded)", source: "migration/ram.c: ram_save_setup" },
  { id: "ram.memSize.mismatch", severity: "fail", description: "MEM_SIZE total is not the sum of the blocks' used_length", source: PARSE_BLOCKS },
  { id: "ram.memSize.repeated", severity: "nonstrict", description: "a second MEM_SIZE record (RAM is loaded again)", source: RAM_LOAD },
  { id: "ram.block.idstr.empty", severity: "fail", description: "a block with an empty idstr", source: PARSE_BLOCKS },
  { id: "ram.block.idstr.duplicate", severity: "fail", description: "a block listed twice under one MEM_SIZE", source: PARSE_BLOCKS },
  { id: "ram.block.usedLength.unaligned", severity: "fail", description: "used_length is not a multiple of the page size", source: PARSE_MAPPED },
  { id: "ram.block.usedLength.zero", severity: "nonstrict", description: "a block of used_length 0", source: PARSE_BLOCKS },
  { id: "ram.block.ignored", severity: "info", description: "a block ignored under x-ignore-shared in QEMU 11.0's format (zero offsets, its RAM not in the file)", source: "migration/ram.c: mapped_ram_setup_ramblock (after v10.2.0)" },
  { id: "ram.block.mrAddr.missing", severity: "nonstrict", description: "x-ignore-shared is listed but the block has no mr->addr", source: "migration/ram.c: ram_save_setup" },
  // MappedRamHeader
  { id: "ram.header.version.unsupported", severity: "fail", description: "MappedRamHeader version above 1", source: PARSE_MAPPED },
  { id: "ram.header.version.zero", severity: "nonstrict", description: "MappedRamHeader version 0 (accepted, never written)", source: PARSE_MAPPED },
  { id: "ram.header.pageSize.invalid", severity: "fail", description: "page_size is not 4096 (QEMU does not check it and loads the wrong RAM)", source: PARSE_MAPPED },
  { id: "ram.header.bitmapOffset.notAfterHeader", severity: "nonstrict", description: "bitmap_offset is not the end of the header", source: SETUP },
  { id: "ram.header.pagesOffset.misaligned", severity: "fail", description: "pages_offset is not a multiple of the page size", source: PARSE_MAPPED },
  { id: "ram.header.pagesOffset.notMibAligned", severity: "nonstrict", description: "pages_offset is page aligned but not 1 MiB aligned", source: SETUP },
  { id: "ram.header.pagesOffset.unexpected", severity: "nonstrict", description: "pages_offset is 1 MiB aligned but not the first boundary after the bitmap", source: SETUP },
  // layout of the regions
  { id: "ram.layout.resumeBeforeHeader", severity: "fail", description: "pages_offset + used_length is not past the header: the stream would go back", source: PARSE_MAPPED },
  { id: "ram.layout.overlap", severity: "fail", description: "a bitmap, page array, record or the stream overlap each other", source: SETUP },
  { id: "ram.bitmap.outOfFile", severity: "fail", description: "the bitmap lies (partly) past the end of the file", source: PARSE_MAPPED },
  { id: "ram.pages.outOfFile", severity: "fail", description: "the page array, and so the next record, runs past the end of the file", source: PARSE_MAPPED },
  { id: "ram.pages.setBitPastEof", severity: "fail", description: "a set bit names a page past the end of the file", source: READ_MAPPED },
  { id: "ram.bitmap.trailingBits", severity: "nonstrict", description: "bits past num_pages are set", source: "migration/ram.c: ram_save_file_bmap" },
  { id: "ram.pages.staleUnderClearBit", severity: "info", description: "non-zero bytes under a clear bit (a page zeroed during a live save)", source: "migration/ram.c: save_zero_page" },
  // --ram NAME=IMAGE
  { id: "ram.image.blockMissing", severity: "fail", description: "the file has no block of that name", source: PARSE_BLOCKS },
  { id: "ram.image.sizeMismatch", severity: "fail", description: "used_length differs from the image size", source: PARSE_BLOCKS },
  { id: "ram.image.bitmapMismatch", severity: "fail", description: "the bitmap is not the one a save of the image gives", source: "migration/ram.c: save_zero_page" },
  { id: "ram.image.pageMismatch", severity: "fail", description: "a page under a set bit differs from the image", source: READ_MAPPED },
  // devices
  { id: "device.notInVmdesc", severity: "fail", description: "a device section the file's own vmdesc does not describe (QEMU lists every section it writes)", source: "migration/savevm.c: qemu_loadvm_section_start_full (find_se)" },
  { id: "device.cannotWalk", severity: "info", description: "a device section the oracle cannot decode; the rest of the stream is not checked", source: "migration/vmstate.c: vmstate_load_state" },
  { id: "device.version.unsupported", severity: "fail", description: "a device section version above the one QEMU 10.0.2 knows", source: "migration/savevm.c: qemu_loadvm_section_start_full" },
  { id: "device.globalstate.runstate", severity: "fail", description: "globalstate carries no valid RunState name", source: "migration/global_state.c: global_state_post_load" },
  // vmdesc
  // libvirt save images (src/qemu/qemu_saveimage.h: virQEMUSaveHeader, virQEMUSaveDataWrite)
  { id: "libvirt.magic.incomplete", severity: "fail", description: "the magic is LibvirtQemudPart: libvirt never finished the image", source: LIBVIRT },
  { id: "libvirt.version.unsupported", severity: "fail", description: "the save-image version is not 2", source: LIBVIRT },
  { id: "libvirt.format.unknown", severity: "fail", description: "a save-image format above 6 (sparse)", source: LIBVIRT },
  { id: "libvirt.format.compressed", severity: "fail", description: "a compressed save image (gzip, bzip2, xz, lzop, zstd): its stream cannot be mapped-ram", source: LIBVIRT },
  { id: "libvirt.format.mismatch", severity: "fail", description: "format sparse without a mapped-ram stream, or raw with one", source: "libvirt src/qemu/qemu_saveimage.c: qemuSaveImageOpen" },
  { id: "libvirt.dataLen.outOfFile", severity: "fail", description: "data_len puts the QEMU stream past the end of the file", source: LIBVIRT },
  { id: "libvirt.xml.unterminated", severity: "fail", description: "the domain XML is empty or has no NUL inside data_len", source: LIBVIRT },
  { id: "libvirt.cookieOffset.invalid", severity: "fail", description: "cookieOffset points into the XML or past data_len", source: LIBVIRT },
  { id: "libvirt.cookie.unterminated", severity: "fail", description: "the cookie has no NUL inside data_len", source: LIBVIRT },
  { id: "libvirt.unused.nonzero", severity: "nonstrict", description: "an unused header word is not 0", source: LIBVIRT },
  { id: "vmdesc.missing", severity: "info", description: "no vmdesc after EOF (only suppress-vmdesc machines do that)", source: VMDESC_LOAD },
  { id: "vmdesc.sectionType.invalid", severity: "nonstrict", description: "the byte after EOF is not QEMU_VM_VMDESCRIPTION", source: VMDESC_LOAD },
  { id: "vmdesc.length.outOfFile", severity: "nonstrict", description: "the vmdesc length runs past the end of the file", source: VMDESC_LOAD },
  { id: "vmdesc.json.invalid", severity: "nonstrict", description: "the vmdesc is not a JSON object", source: "migration/savevm.c: qemu_savevm_state_complete_precopy" },
  { id: "vmdesc.pageSize.mismatch", severity: "nonstrict", description: "the vmdesc page_size is not 4096", source: "migration/savevm.c: qemu_savevm_state_header" },
  { id: "vmdesc.trailingBytes", severity: "nonstrict", description: "the file does not end where the vmdesc JSON ends", source: VMDESC_LOAD },
  { id: "vmdesc.locate.failed", severity: "nonstrict", description: "analyze-migration.py's search from the end does not find the vmdesc the stream has", source: "scripts/analyze-migration.py: read_migration_debug_json" },
] as const satisfies readonly FindingCase[];

export type FindingId = (typeof FINDING_CASES)[number]["id"];

const BY_ID: ReadonlyMap<string, FindingCase> = new Map(FINDING_CASES.map((c) => [c.id, c]));

export function findingCase(id: FindingId): FindingCase {
  return BY_ID.get(id) as FindingCase;
}

export interface Finding {
  readonly id: FindingId;
  readonly severity: Severity;
  /** absolute file offset of the offending bytes */
  readonly offset: bigint;
  /** the field or structure, e.g. `pages_offset` or `MappedRamHeader` */
  readonly field: string;
  readonly expected?: string;
  readonly actual?: string;
  /** one line: subject first, lowercase, offsets in hex */
  readonly message: string;
}

export interface FindingDetail {
  /** what is being checked, e.g. `ramblock "r"` */
  readonly subject: string;
  readonly field: string;
  /** what must hold, e.g. `must be a multiple of 0x1000` */
  readonly rule: string;
  readonly expected?: string | undefined;
  readonly actual?: string | undefined;
}

export function makeFinding(id: FindingId, offset: bigint, d: FindingDetail): Finding {
  const actual = d.actual === undefined ? undefined : printable(d.actual);
  const received = actual === undefined ? "" : `. Received ${actual}`;
  return {
    id,
    severity: findingCase(id).severity,
    offset,
    field: d.field,
    ...(d.expected === undefined ? {} : { expected: d.expected }),
    ...(actual === undefined ? {} : { actual }),
    message: printable(`${d.subject}: ${d.field} ${d.rule}${received}`),
  };
}

/** Text from the file may hold any byte: control characters become \xNN, so a finding stays one line. */
function printable(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? `\\x${c.toString(16).padStart(2, "0")}` : ch;
  }
  return out;
}

/** Findings in file order (stable for equal offsets). */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

/** Whether the findings fail the file: any `fail`, and with `strict` also any `nonstrict`. */
export function isFailing(findings: readonly Finding[], strict = false): boolean {
  return findings.some((f) => f.severity === "fail" || (strict && f.severity === "nonstrict"));
}

/** One human line: `fail ram.header.pagesOffset.misaligned at 0x77: ramblock "r": ...`. */
export function formatFinding(f: Finding): string {
  return `${f.severity} ${f.id} at ${hex(f.offset)}: ${f.message}`;
}

/** The `--json` shape: offsets as hex strings (u64 does not fit a JSON number), absent values null. */
export function findingToJSON(f: Finding): Record<string, string | null> {
  return {
    id: f.id,
    severity: f.severity,
    offset: hex(f.offset),
    field: f.field,
    expected: f.expected ?? null,
    actual: f.actual ?? null,
    message: f.message,
  };
}
