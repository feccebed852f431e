// Public surface of the conformance harness (src/conformance): the case model, classify, expectation
// files, the runner and its reporters, and the compact golden storage. Named exports only.
export { oracleCheck, patternSource } from "./adapters/oracle.js";
export { type QemuTarget, qemuRead, qemuRun, qemuWrite } from "./adapters/qemu.js";
export { referenceRead, referenceWrite, writerRecipe } from "./adapters/reference.js";
export {
  type CapsCase,
  type CapsRunner,
  type CapsSuiteOptions,
  type CaseResult as CapsCaseResult,
  capsExpectationFile,
  capsSuite,
  capsUnsupported,
  DEFAULT_CONFORMANCE_SEQUENCES,
  fixedCapsCases,
  type Mismatch as CapsMismatch,
  mismatchMessage,
  qmpPoolRunner,
} from "./caps/index.js";
export { classify, classifyFindings } from "./classify.js";
export { CorpusError, GoldenFiles, loadCorpus, validateCase } from "./corpus.js";
export {
  type ExpectationEntry,
  type ExpectationFile,
  ExpectationFileError,
  type ExpectationMatch,
  formatExpectations,
  matchExpectation,
  parseExpectations,
  updatedExpectations,
} from "./expectations.js";
export { idMatcher } from "./match.js";
export type {
  BlockParam,
  Case,
  CompareMode,
  Expectation,
  ExpectedBlock,
  ExpectedRam,
  FileCase,
  LiveSpec,
  Mutation,
  PrefixSpec,
  QemuFileCase,
  QemuProvenance,
  QemuSaveParams,
  QmpCall,
  Requirement,
  SequenceCase,
  SequenceFd,
  StoredGolden,
  Verdict as CaseVerdict,
  WriterFileCase,
  WriterParams,
  WriterProvenance,
} from "./model.js";
export { CASE_ID_RE, isQemuMade } from "./model.js";
export { imageDigest, libvirtPrefix, type PageWrite, type PatternSpec, writeImage } from "./patterns.js";
export { humanReport, jsonReport, junitReport, type RunInfo, runInfo, xmlEscape } from "./report.js";
export type {
  CapsResult,
  CheckResult,
  ImplementationKind,
  Observation,
  ReadResult,
  Role,
  RunResult,
  Status,
  Verdict,
  WriteResult,
} from "./results.js";
export {
  type ConformanceResult,
  type ExternalObservation,
  type ExternalSuite,
  exitCodeOf,
  type QemuUnderTest,
  qemuExpectationFile,
  type RunnerOptions,
  type RunOutcome,
  runConformance,
  type StaleEntry,
} from "./runner.js";
export {
  decodeBlob,
  encodeBlob,
  firstDifference,
  rebuildFile,
  rebuildFromBlob,
  scanFile,
  sha256File,
} from "./storage.js";
