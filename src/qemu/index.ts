// Public surface of the QEMU adapter: the only way the harness starts and talks to qemu-system-x86_64.
export {
  compareVersions,
  type FindQemuOptions,
  findQemu,
  formatVersion,
  MAPPED_RAM_MIN_VERSION,
  parseQemuVersion,
  probeQemu,
  QEMU_ENV,
  QEMU_EXECUTABLE,
  type QemuBinary,
  type QemuVersion,
  requireQemu,
} from "./binary.js";
export {
  buildQemuArgs,
  childFdNumber,
  formatOpts,
  formatOptValue,
  type MemoryBackendFile,
  type PassedFd,
  type QemuCommandLineOptions,
  type QemuOptValue,
  qemuOptEscape,
} from "./cmdline.js";
export { isQemuError, isQmpError, QemuError, type QemuErrorCode, QmpError } from "./errors.js";
export { GdbClient } from "./gdb.js";
export {
  type FileMigrationOptions,
  type FileMigrationResult,
  fileUri,
  type LoadBackend,
  type LoadFileOptions,
  type LoadFileResult,
  type MigrateIncomingOptions,
  type MigrationStep,
  type MigrationWaitResult,
  migrate,
  migrateIncoming,
  qemuLoadFile,
  qemuSaveFile,
  type SaveBackend,
  type SaveFileOptions,
  setCapabilities,
  setParameters,
  TERMINAL_MIGRATION_STATUSES,
  UNLIMITED_BANDWIDTH,
  waitForMigration,
} from "./migrate.js";
export {
  QemuProcess,
  type QemuRunResult,
  type QemuStartOptions,
  type WithQemuResult,
  withQemu,
} from "./process.js";
export type {
  ExecuteOptions,
  FdsetInfo,
  MigrationCapabilityStatus,
  MigrationChannel,
  MigrationInfo,
  MigrationStats,
  MigrationStatus,
  QmpArgsOf,
  QmpCommands,
  QmpEvent,
  QmpExecutor,
  QmpGreeting,
  QmpReturnOf,
  StatusInfo,
  VersionInfo,
} from "./qapi.js";
export {
  QmpClient,
  type QmpConnectOptions,
  type QmpEventPredicate,
  type WaitForEventOptions,
} from "./qmp.js";
export { liveQemus, type RegisteredQemu } from "./registry.js";
