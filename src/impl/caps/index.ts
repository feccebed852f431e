// Public surface of the capability/parameter/transport model of QEMU 10.0.2 (mapped-ram and multifd):
// a stateful QMP session answered without QEMU, and the rule tables it is made of.

export { CAPS_RULES, type CapsContext, PARAMS_RULES, type ParamsContext } from "./caps-rules.js";
export {
  INCOMING_POST_RULES,
  INCOMING_PRE_RULES,
  type MigrateContext,
  PREPARE_RULES,
  START_RULES,
  TRANSPORT_RULES,
} from "./migrate-rules.js";
export {
  BACKGROUND_SNAPSHOT_CONFLICTS,
  CAPABILITIES,
  type Capability,
  DEFAULT_PARAMS,
  isCapability,
  isModelledParam,
  type ModelledParam,
  type ModelledParams,
  MULTIFD_COMPRESSIONS,
  type MultifdCompression,
  PARAM_TYPES,
  SET_PARAMETERS_ORDER,
  ZERO_PAGE_DETECTIONS,
  type ZeroPageDetection,
} from "./names.js";
export {
  asUint64,
  type CapabilityStatus,
  QAPI_RULES,
  type QapiRule,
  visitCapabilities,
  visitParameters,
} from "./qapi.js";
export { firstApplying, QUIRKS, type Rule } from "./rules.js";
export { type CapabilityInput, MigrationSession, type SessionOptions } from "./session.js";
export { SETTLE_RULES, type SettleRule } from "./settle-rules.js";
export {
  type Accepted,
  DEFAULT_ENVIRONMENT,
  type Environment,
  type IncomingState,
  type Outcome,
  type OutgoingStatus,
  type Rejected,
  type Runstate,
  type SessionState,
  type Settlement,
  type SettleStatus,
  UnsupportedInputError,
} from "./state.js";
export { qemuStrtosz, STRERROR, type StrtoszErrno, type StrtoszResult } from "./strtosz.js";
export {
  allowsExtraFds,
  isMultiChannel,
  isSeekable,
  type MigrationAddress,
  parseFileSpec,
  parseMigrationUri,
  type SocketAddress,
  URI_RULES,
  type UriError,
} from "./uri.js";
