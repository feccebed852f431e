// What an implementation under test returns for one case and role: the same shapes for our reference
// implementation, the oracle and a real QEMU, so that one pure `classify` can judge them all.

/** The implementations the runner knows. */
export type ImplementationKind = "reference" | "oracle" | "qemu";

/**
 * - `read`: load the golden file (reference reader, QEMU as destination)
 * - `write`: make the golden again (reference writer, QEMU as source) and compare
 * - `check`: judge the golden file (oracle findings)
 * - `run`: a QMP sequence against QEMU (must not crash it)
 * - `caps`: a capability/parameter case (QEMU against the capability model)
 */
export type Role = "read" | "write" | "check" | "run" | "caps";

export type Status = "pass" | "nonstrict" | "fail" | "skip";

export interface BlockObservation {
  idstr: string;
  usedLength: string;
  headerOffset: string;
  bitmapOffset: string;
  pagesOffset: string;
}

export interface RamObservation {
  idstr: string;
  sha256: string;
}

export type ReadResult =
  | {
      kind: "loaded";
      /** where the reader found the blocks (absent when the implementation does not tell) */
      layout?: BlockObservation[];
      /** the RAM the implementation loaded, for the blocks it lets us see */
      ram: RamObservation[];
      /** `all`: every block's RAM is in `ram` (a missing or extra block is a failure) */
      coverage: "all" | "some";
      note?: string;
    }
  | {
      kind: "rejected";
      /** our reader's MappedRamError code */
      code?: string;
      message: string;
      /** QEMU: `query-migrate` error-desc */
      errorDesc?: string;
      /** QEMU: the tail of its stderr (human detail; only searched for a given line) */
      stderr?: string;
    }
  | { kind: "crashed"; signal: string; message: string }
  | { kind: "error"; message: string };

export interface FindingObservation {
  id: string;
  severity: "fail" | "nonstrict" | "info";
}

export type WriteResult =
  | {
      kind: "written";
      sha256: string;
      size: number;
      /** offset of the first byte that differs from the golden, when it differs */
      firstDifference?: number;
      /** sha256 of the bytes before the golden's `file.prefix.end` */
      prefixSha256?: string;
      /**
       * When the bytes differ: both files' digests without their empty SECTION_PART records, and how
       * many each had (the count is timing dependent, spec 2.8)
       */
      canonical?: { sha256: string; parts: number; goldenSha256: string; goldenParts: number };
      /** `compare: ram | validity`: what the oracle and the reference reader say about the new file */
      validity?: { findings: FindingObservation[]; read?: ReadResult };
    }
  | { kind: "failed"; message: string }
  | { kind: "crashed"; signal: string; message: string }
  | { kind: "error"; message: string };

export type CheckResult =
  | { kind: "checked"; findings: FindingObservation[] }
  | { kind: "error"; message: string };

export type RunResult =
  | { kind: "survived"; outcome: string }
  | { kind: "crashed"; signal: string; message: string }
  | { kind: "error"; message: string };

/** A capability case: what QEMU answered against what the model says it answers. */
export type CapsResult =
  | { kind: "answered"; mismatches: string[] }
  | { kind: "crashed"; signal: string; message: string }
  | { kind: "error"; message: string };

export type Observation =
  | { role: "read"; implementation: ImplementationKind; result: ReadResult }
  | { role: "write"; implementation: ImplementationKind; result: WriteResult }
  | { role: "check"; implementation: ImplementationKind; result: CheckResult }
  | { role: "run"; implementation: ImplementationKind; result: RunResult }
  | { role: "caps"; implementation: ImplementationKind; result: CapsResult }
  | { role: Role; implementation: ImplementationKind; skip: string };

export interface Verdict {
  status: Status;
  /** one line; stable for a given behaviour (expectation files match it by prefix) */
  message: string;
}
