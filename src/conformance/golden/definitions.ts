// The golden corpus as definitions: how each case is made and what is expected of it. Expected
// verdicts, oracle finding ids, reader error codes and QEMU error texts are written here by hand
// (from the spec, or as QEMU 10.0.2 was observed to answer); `npm run golden:update` adds what is
// measured on the made file (size, sha256, layout, RAM digests) and writes golden/cases/<id>.json.
//
// The cases live in qemu-cases.ts, writer-cases.ts and sequences.ts; their shared types in def-common.ts.
import type { GoldenDef } from "./def-common.js";
import { QEMU_DEFS } from "./qemu-cases.js";
import { WRITER_DEFS } from "./writer-cases.js";

export type {
  GoldenDef,
  HandExpectation,
  MutationContext,
  QemuGoldenDef,
  WriterGoldenDef,
} from "./def-common.js";
export { SEQUENCE_CASES } from "./sequences.js";

export const GOLDEN_DEFS: readonly GoldenDef[] = [...QEMU_DEFS, ...WRITER_DEFS];
