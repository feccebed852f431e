// The capability cases of `mrc conformance` (and of suites/caps): cases as data, the model run, the
// comparison with QEMU, the QMP pool, and the ExternalSuite that wires them into the runner. The
// fast-check sequences (./sequences.js) are not re-exported: fast-check is a devDependency, loaded
// with import() only when generated sequences are asked for.
export {
  ALL_CAPS_OFF,
  type CapsCase,
  COMPRESSIONS,
  capSubsets,
  capsOff,
  capsOn,
  DEFAULT_SEED,
  INCOMING_TRANSPORTS,
  incomingMatrix,
  MATRIX_CAPS,
  OUTGOING_TRANSPORTS,
  outgoingMatrix,
  params,
  SEQUENCE_CAPS,
  type Step,
  sequenceId,
} from "./cases.js";
export {
  type CaseRun,
  capsObservation,
  compareRuns,
  describeResult,
  type Mismatch,
  mismatchMessage,
  runModelCase,
  runModelStep,
  type StepResult,
  shouldStop,
  substitute,
  withoutDir,
} from "./compare.js";
export { probeEnvironment } from "./host.js";
export { OFFSETS, PINNED } from "./pinned.js";
export { CapsQemuPool, type CaseResult, DEFAULT_PARAMS_JSON, type PoolStats } from "./pool.js";
export {
  type CapsRunner,
  type CapsSuiteOptions,
  capsExpectationFile,
  capsSuite,
  capsUnsupported,
  DEFAULT_CONFORMANCE_SEQUENCES,
  fixedCapsCases,
  observationOf,
  qmpPoolRunner,
} from "./suite.js";
