// The capability cases as an `ExternalSuite` of `mrc conformance`: the 256 capability sets × transports ×
// compressions, outgoing and incoming; the hand-written sequences; and `sequences` fast-check sequences
// of a fixed seed. Each case runs on the model (src/impl/caps) and on the QEMU under test (a pool of
// long-lived QEMUs, ./pool.ts); the result is `pass` when they agree call by call, `fail` with the first
// difference otherwise. Results belong to implementation `qemu-X.Y.Z:caps`, ids `<case id>:caps`, and
// are matched against expectations/qemu-<major>.<minor>-caps.txt.
import { join } from "node:path";
import type { QemuBinary, QemuVersion } from "../../qemu/index.js";
import type { QemuTarget } from "../adapters/qemu.js";
import type { ExternalObservation, ExternalSuite } from "../runner.js";
import { type CapsCase, DEFAULT_SEED, incomingMatrix, outgoingMatrix, sequenceId } from "./cases.js";
import { capsObservation } from "./compare.js";
import { DEFAULT_CONFORMANCE_SEQUENCES } from "./defaults.js";
import { probeEnvironment } from "./host.js";
import { PINNED } from "./pinned.js";
import { CapsQemuPool, type CaseResult } from "./pool.js";

export { DEFAULT_CONFORMANCE_SEQUENCES };

/**
 * Runs `cases` on the QEMU under test and reports one `CaseResult` per case as it is decided. The
 * default is the QMP pool (`qmpPoolRunner`); tests pass a fake.
 */
export type CapsRunner = (
  cases: readonly CapsCase[],
  ctx: { qemu: QemuTarget; jobs: number },
  onResult: (r: CaseResult) => void,
) => Promise<void>;

/** The real runner: probes the host once, then `jobs` workers with long-lived QEMUs reset over QMP. */
export const qmpPoolRunner: CapsRunner = async (cases, { qemu, jobs }, onResult) => {
  const env = await probeEnvironment(qemu.binary, qemu.extraArgs);
  const pool = new CapsQemuPool(qemu.binary, jobs, env, qemu.extraArgs);
  try {
    await pool.run(cases, onResult);
  } finally {
    await pool.close();
  }
};

export interface CapsSuiteOptions {
  /** fast-check sequences (default 100) */
  sequences?: number;
  /** their seed (default DEFAULT_SEED); ids embed it: `caps.seq.s<seed>.<i>` */
  seed?: number;
  /** how the cases reach QEMU (default `qmpPoolRunner`) */
  runner?: CapsRunner;
}

/** The fixed cases: outgoing matrix, incoming matrix, hand-written sequences. */
export function fixedCapsCases(): CapsCase[] {
  return [...outgoingMatrix(), ...incomingMatrix(), ...PINNED];
}

type Generated = { cases: CapsCase[] } | { missing: string };

/** The generated sequences, or why there are none (fast-check, a devDependency, is not installed). */
async function generatedCases(seed: number, n: number): Promise<Generated> {
  if (n === 0) return { cases: [] };
  let mod: typeof import("./sequences.js");
  try {
    mod = await import("./sequences.js");
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { missing: `generated sequences need fast-check (a devDependency; npm ci installs it): ${why}` };
  }
  return { cases: mod.sequenceCases(seed, n) };
}

/** The capability model answers like QEMU 10.0; another QEMU's cases are skipped with this reason. */
export function capsUnsupported(binary: QemuBinary): string | undefined {
  const v = binary.version;
  if (v.major === 10 && v.minor === 0) return undefined;
  return `QEMU ${v.major}.${v.minor}.${v.micro}: the capability model describes QEMU 10.0`;
}

/** `<dir>/qemu-<major>.<minor>-caps.txt` */
export function capsExpectationFile(expectationsDir: string, v: QemuVersion): string {
  return join(expectationsDir, `qemu-${v.major}.${v.minor}-caps.txt`);
}

export function capsSuite(options: CapsSuiteOptions = {}): ExternalSuite {
  const seed = options.seed ?? DEFAULT_SEED;
  const n = options.sequences ?? DEFAULT_CONFORMANCE_SEQUENCES;
  const runner = options.runner ?? qmpPoolRunner;
  let generated: Promise<Generated> | undefined;
  const sequences = () => {
    generated ??= generatedCases(seed, n);
    return generated;
  };
  const fixed = fixedCapsCases();
  const seqIds = Array.from({ length: n }, (_, i) => sequenceId(seed, i));
  return {
    name: "caps",
    caseIds: async () => [...fixed.map((c) => c.id), ...seqIds],
    expectationFile: capsExpectationFile,
    unsupported: capsUnsupported,
    async run({ qemu, cases: ids, jobs, emit }) {
      const gen = await sequences();
      const byId = new Map([...fixed, ...("cases" in gen ? gen.cases : [])].map((c) => [c.id, c]));
      const runnable: CapsCase[] = [];
      for (const id of ids) {
        const c = byId.get(id);
        if (c !== undefined) runnable.push(c);
        else {
          const skip = "missing" in gen ? gen.missing : `no capability case ${id}`;
          emit({ case: id, observation: { role: "caps", implementation: "qemu", skip }, durationMs: 0 });
        }
      }
      if (runnable.length === 0) return;
      await runner(runnable, { qemu, jobs }, (r) => emit(observationOf(r)));
    },
  };
}

/** A case result as the runner's observation. */
export function observationOf(r: CaseResult): ExternalObservation {
  return {
    case: r.id,
    observation: { role: "caps", implementation: "qemu", result: capsObservation(r.mismatch) },
    durationMs: r.durationMs,
  };
}
