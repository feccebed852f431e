// Public surface of the reference implementation (src/impl). Named exports only.

export { PageBitmap } from "./bitmap.js";
export { hex, toSafeNumber } from "./bytes.js";
export * as caps from "./caps/index.js";
export {
  type Configuration,
  decodeConfiguration,
  encodeConfiguration,
  isMappedRam,
  listedCapabilities,
  VALIDATED_CAPABILITIES,
} from "./configuration.js";
export * as constants from "./constants.js";
export { checkDeviceSections } from "./devices.js";
export { isMappedRamError, MappedRamError, type MappedRamErrorCode } from "./errors.js";
export { blockFileName, type ExtractResult, extractBlocks, readBlockBitmap } from "./extract.js";
export { type InspectReport, inspectDevices, inspectFile, summarize } from "./inspect.js";
export { type BlockRegions, bitmapSizeFor, blockRegions } from "./layout.js";
export { type DeviceSection, MACHINE_NONE, MACHINES, type MachineProfile, vmdescJson } from "./machine.js";
export { decodeMappedRamHeader, encodeMappedRamHeader, type MappedRamHeader } from "./mapped-ram-header.js";
export * as multifd from "./multifd/index.js";
export type { ParsedRamBlock } from "./ram-load.js";
export {
  type ParsedStream,
  parseStream,
  type ReadOptions,
  readMigrationFile,
  type StreamRecord,
} from "./reader.js";
export { type ReencodeOptions, type ReencodeResult, reencodeFile } from "./reencode.js";
export { machineProfile, planSave, ramListOrder, type SaveOptions, writeMigrationFile } from "./save.js";
export { Cursor, FileSource, MemorySource, type RandomAccessSource } from "./source.js";
export * as vmstate from "./vmstate/index.js";
export {
  type DirtyPage,
  type LiveRound,
  type RoundSnapshot,
  type SaveBlock,
  type SavePlan,
  type SaveResult,
  saveMappedRam,
} from "./writer.js";
export { ZERO_PAGE_DETECTION_MODES, type ZeroPageDetection } from "./zero-page.js";
