// The oracle: an independent judge of QEMU 10.0.2 mapped-ram migration files. It imports nothing
// from the reference implementation (and it nothing from here), so a bug in one is caught by the other.
export { type BitmapOptions, expectedBitmap, expectedBitmapOf, type ZeroPageDetection } from "./bitmap.js";
export { type CheckReport, checkFile, checkPath } from "./check.js";
export {
  FINDING_CASES,
  type Finding,
  type FindingCase,
  type FindingId,
  findingCase,
  findingToJSON,
  formatFinding,
  isFailing,
  type Severity,
} from "./findings.js";
export {
  type BlockLayout,
  bitmapSizeFor,
  blockLayout,
  type ExpectedLayout,
  expectedLayout,
  type LayoutBlock,
  type LayoutOptions,
  preambleLength,
} from "./layout.js";
export { type ByteSource, type FileByteSource, memorySource, openFileSource } from "./source.js";
export type { CheckOptions, ObservedBlock, RamImage } from "./walk.js";
