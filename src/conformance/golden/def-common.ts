// Shared vocabulary of the golden definitions: the definition types, the hand-written part of an
// expectation, and the QEMU source places cases name.
import type { StreamRecord } from "../../impl/index.js";
import type { Expectation, Mutation, QemuSaveParams, Requirement, WriterParams } from "../model.js";
import type { BaseFile } from "./writer-made.js";

/** Hand-written part of an expectation (layout and RAM digests are measured). */
export type HandExpectation = Pick<Expectation, "verdict" | "findings" | "info" | "reader" | "qemu">;

export interface DefBase {
  id: string;
  description: string;
  checks: string[];
  expect: HandExpectation;
  requires?: { read?: Requirement; write?: Requirement };
}

export interface QemuGoldenDef extends DefBase {
  by: "qemu";
  params: QemuSaveParams;
  compare: "bytes" | "ram" | "validity";
}

export interface MutationContext extends BaseFile {
  readAt(offset: bigint, length: number): Promise<Uint8Array>;
}

export interface WriterGoldenDef extends DefBase {
  by: "writer";
  params: WriterParams;
  mutations?: (ctx: MutationContext) => Promise<Mutation[]> | Mutation[];
}

export type GoldenDef = QemuGoldenDef | WriterGoldenDef;

export type { StreamRecord };

export const hx = (v: bigint | number) => `0x${v.toString(16)}`;
export const be = (v: bigint | number, bytes: number) =>
  BigInt(v)
    .toString(16)
    .padStart(bytes * 2, "0");

export const VALID: HandExpectation = { verdict: "valid", findings: [] };

export const SPEC_SETUP = "migration/ram.c: mapped_ram_setup_ramblock";
export const SPEC_BITMAP = "migration/ram.c: ram_save_file_bmap";
export const SPEC_ZERO = "migration/ram.c: save_zero_page";
export const SPEC_MULTIFD = "migration/multifd-nocomp.c: multifd_nocomp_send_prepare";
export const SPEC_FILE = "migration/file.c: file_start_outgoing_migration";
export const LOAD_HEADER = "migration/ram.c: parse_ramblock_mapped_ram, mapped_ram_read_header";
