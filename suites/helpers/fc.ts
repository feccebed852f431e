// fast-check settings shared by the suites: FC_SEED replays a failure exactly, FC_RUNS scales runs,
// and the seed in use is printed so a CI log always says how to replay.
import type fc from "fast-check";

const envSeed = process.env.FC_SEED;
/** The seed for this run: FC_SEED when set, else a fixed default (runs are reproducible by default). */
export const FC_SEED = envSeed !== undefined && /^-?\d+$/.test(envSeed) ? Number(envSeed) : 20261126;

let printed = false;

/**
 * Parameters for fc.assert: seed, number of runs (scaled by FC_RUNS), and the failure printout. With
 * `timeLimitMs` the run also stops (without failing) when that much time has gone by: CI stays bounded on
 * slow machines.
 */
export function fcParams<T>(numRuns: number, timeLimitMs?: number): fc.Parameters<T> {
  if (!printed) {
    printed = true;
    console.log(`fast-check seed ${FC_SEED} (replay with FC_SEED=${FC_SEED})`);
  }
  const scale = Number(process.env.FC_RUNS ?? "1");
  return {
    seed: FC_SEED,
    numRuns: Math.max(1, Math.round(numRuns * (Number.isFinite(scale) ? scale : 1))),
    ...(timeLimitMs === undefined
      ? {}
      : { interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false }),
  };
}
