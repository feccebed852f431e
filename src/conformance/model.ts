// The conformance case model: a case is data (test262 front-matter, Kaitai .kst). One JSON file per
// case under golden/cases/<id>.json; golden files are stored compactly under golden/blobs/.
import type { PageWrite, PatternSpec } from "./patterns.js";

/**
 * What a reader must do with a file:
 * - `valid`: QEMU 10.0.2 writes files like this; load it into the expected RAM.
 * - `nonstrict`: QEMU 10.0.2 never writes it but its loader accepts it (or an older/newer QEMU writes
 *   it); loading it into the expected RAM passes, refusing it cleanly is `nonstrict`, loading other
 *   RAM fails.
 * - `invalid`: a reader must refuse it; accepting it fails.
 */
export type Verdict = "valid" | "nonstrict" | "invalid";

/** A RAM block given to QEMU as `memory-backend-file` (or to our writer as an image). */
export interface BlockParam {
  /** backend id = the block's idstr */
  id: string;
  /** bytes, hex text (`0x800000`) */
  size: string;
  pattern: PatternSpec;
}

/** A file prefix the save must keep (`file:...,offset=N` truncates to N and keeps what is before). */
export type PrefixSpec = { kind: "libvirt"; length: number } | { kind: "fill"; byte: number; length: number };

/** A live save: guest writes (over qtest) once `afterBytes` of RAM were transferred. */
export interface LiveSpec {
  /** `max-bandwidth` in bytes/s, so the save lasts long enough */
  maxBandwidth: number;
  /** start writing once `ram.transferred` reached this many bytes */
  afterBytes: number;
  /** block whose guest-physical address is its offset (the machine's RAM below 3.5 GiB) */
  block: string;
  writes: PageWrite[];
}

/** How a QEMU-made golden is made: the machine, its RAM, and the QMP calls. */
export interface QemuSaveParams {
  machine: string;
  blocks: BlockParam[];
  /** `-M ...,memory-backend=ID` */
  memoryBackend?: string;
  /** `-m` when there is no memory backend */
  memory?: string;
  /** more arguments, e.g. `-numa node,memdev=m0` */
  extraArgs?: string[];
  capabilities: Record<string, boolean>;
  /** `migrate-set-parameters` members (`max-bandwidth` is unlimited unless given) */
  parameters: Record<string, number | string | boolean>;
  /** `file:` offset, as text passed to QEMU (decimal or 0x hex) */
  offset?: string;
  prefix?: PrefixSpec;
  live?: LiveSpec;
}

/** One QMP command as sent. */
export interface QmpCall {
  execute: string;
  arguments?: Record<string, unknown>;
}

/**
 * How a QEMU run is compared with the golden: `bytes` (sha256 of the whole file), `ram` (the bytes
 * up to the end of the last block's page array, where device state that depends on time starts),
 * `validity` (timing-dependent: the file must be valid and load into the expected RAM).
 */
export type CompareMode = "bytes" | "ram" | "validity";

export interface QemuProvenance {
  by: "qemu";
  /** `10.0.2` */
  version: string;
  /** first line of `--version` */
  versionText: string;
  /** QEMU's argument vector; temp paths are shown as `<qmp>`, `<image:ID>`, `<file>`, `<qtest>` */
  argv: string[];
  qmp: QmpCall[];
  compare: CompareMode;
  /** what happened during a live save, for humans */
  notes?: string[];
}

/** A byte-level change applied to the writer's output. */
export type Mutation =
  | { op: "patch"; at: string; hex: string; why: string }
  | { op: "insert"; at: string; hex: string; why: string }
  | { op: "remove"; at: string; length: string; why: string }
  | { op: "truncate"; at: string; why: string };

/** Parameters of the reference writer (src/impl saveMappedRam) for a writer-made golden. */
export interface WriterParams {
  machine: "none";
  blocks: BlockParam[];
  offset?: string;
  /** listed capabilities (default `["mapped-ram"]`) */
  capabilities?: string[];
  /** be64 mr->addr per block when x-ignore-shared is listed */
  mrAddr?: Record<string, string>;
  multifdChannels?: number;
  partSections?: number;
  zeroPageDetection?: "none" | "legacy" | "multifd";
  switchoverStart?: boolean;
  vmdesc?: boolean;
  /** later rounds of a live save: whole pages set to a byte */
  rounds?: { block: string; writes: PageWrite[] }[];
}

export interface WriterProvenance {
  by: "writer";
  writer: string;
  mutations: Mutation[];
}

export interface StoredGolden {
  /** content-addressed blob, relative to the corpus directory */
  blob: string;
  /** bytes, decimal */
  size: number;
  sha256: string;
  /** where the stream starts (`file:` offset), hex */
  offset: string;
  /** `compare: "ram"`: sha256 of the bytes before `end` (the end of the last block's page array) */
  prefix?: { end: string; sha256: string };
}

export interface ExpectedBlock {
  idstr: string;
  usedLength: string;
  headerOffset: string;
  bitmapOffset: string;
  pagesOffset: string;
  /** set bits below num_pages */
  pagesPresent: number;
}

export interface ExpectedRam {
  idstr: string;
  usedLength: string;
  /** sha256 of the block's RAM after a load (clear-bit pages zero) */
  sha256: string;
  /**
   * `pattern`: computed from the pattern parameters (independent of any reader); `file`: computed
   * from the QEMU-made file's bitmap and page array when the harness made the golden (ROM blocks).
   */
  source: "pattern" | "file";
}

export interface Expectation {
  verdict: Verdict;
  /** oracle finding ids of severity fail/nonstrict, sorted */
  findings: string[];
  /** info finding ids that must be present too */
  info?: string[];
  /** `valid`/`nonstrict`: where the blocks are */
  layout?: {
    /** SECTION_PART records QEMU wrote (timing dependent; the writer takes it as a parameter) */
    partSections?: number;
    blocks: ExpectedBlock[];
  };
  ram?: ExpectedRam[];
  /** the reference reader's error code when it refuses the file */
  reader?: { code: string };
  /** QEMU as reader: `query-migrate` error-desc, and a line its stderr must contain (human detail) */
  qemu?: { errorDesc: string; stderrIncludes?: string };
}

interface CaseBase {
  id: string;
  description: string;
  /** QEMU source places or spec sections the case checks */
  checks: string[];
  /** minimum QEMU version per QEMU role, e.g. `{ write: "10.0.0" }` with the reason */
  requires?: { read?: Requirement; write?: Requirement; run?: Requirement };
}

export interface Requirement {
  version: string;
  reason: string;
}

export interface QemuFileCase extends CaseBase {
  kind: "file";
  params: QemuSaveParams;
  provenance: QemuProvenance;
  file: StoredGolden;
  expect: Expectation;
}

export interface WriterFileCase extends CaseBase {
  kind: "file";
  params: WriterParams;
  provenance: WriterProvenance;
  file: StoredGolden;
  expect: Expectation;
}

export type FileCase = QemuFileCase | WriterFileCase;

/** A file descriptor a sequence passes to QEMU (`-add-fd`), on a fresh file in a temp dir. */
export interface SequenceFd {
  set: number;
  /** open(2) flags by name */
  flags: ("O_WRONLY" | "O_RDONLY" | "O_RDWR" | "O_CREAT" | "O_TRUNC" | "O_DIRECT")[];
  opaque?: string;
}

/** A sequence of QMP calls against one QEMU (no golden file): e.g. a crash reproducer. */
export interface SequenceCase extends CaseBase {
  kind: "sequence";
  params: {
    machine: string;
    memory?: string;
    fds: SequenceFd[];
    /** sent in order; a QMP error reply ends the sequence (a refusal, not a crash) */
    steps: QmpCall[];
    /** after the steps, wait for the migration to reach a terminal status */
    waitForMigration: boolean;
  };
  provenance: { by: "spec"; source: string };
  expect: {
    /** QEMU must stay alive: refusing or failing the migration is fine, dying is not */
    survives: true;
  };
}

export type Case = FileCase | SequenceCase;

export function isQemuMade(c: FileCase): c is QemuFileCase {
  return c.provenance.by === "qemu";
}

export const CASE_ID_RE = /^[a-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)+$/;
