// Public surface of the semantic diff: compare two migration files by meaning, not by position.
export {
  type DiffFileInput,
  type DiffInput,
  type DiffOptions,
  diffFiles,
  diffStreams,
  jsonChanges,
} from "./diff.js";
export { formatDiff } from "./format.js";
export type {
  BlockDiff,
  CommandInfo,
  ContentRange,
  DeviceDiff,
  DeviceRef,
  DiffReport,
  DiffSide,
  FieldChange,
  PageRange,
  VmdescChange,
} from "./types.js";
