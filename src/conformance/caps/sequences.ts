// fast-check arbitraries for QMP call sequences over the capabilities, parameters and transports the
// issue names. Deterministic for a seed: `sequenceCases(seed, n)` always yields the same cases, and the
// first n of a longer list are the n of a shorter one. fast-check is a devDependency: the conformance
// runner loads this module with import() (./suite.ts) and skips the generated cases when it is missing.
import fc from "fast-check";
import { type CapsCase, SEQUENCE_CAPS, type Step, sequenceId } from "./cases.js";

export { DEFAULT_SEED } from "./cases.js";

const PARAM_VALUES: Readonly<Record<string, readonly unknown[]>> = {
  "multifd-channels": [1, 2, 4, 255, 0, 256, -1, "2"],
  "multifd-compression": ["none", "zlib", "zstd", "none", "bogus"],
  "direct-io": [true, false],
  "zero-page-detection": ["none", "legacy", "multifd", "bogus"],
  "tls-creds": ["", "tls0", null, ""],
  // large enough that every accepted migration of 8 MiB settles at once (1000 B/s would take hours)
  "max-bandwidth": [134217728, 1073741824],
  "multifd-zlib-level": [1, 9, 10],
};

const OUTGOING_URIS = [
  "file:{dir}/out.img",
  "file:{dir}/out.img",
  "file:{dir}/out.img,offset=0x1000",
  "file:{dir}/out.img,offset=4k",
  "file:{dir}/out.img,offset=1M",
  "file:{dir}/out.img,offset=12345",
  "file:{dir}/out.img,offset=0x20M",
  "file:{dir}/out.img,offset=-1",
  "file:{dir}/out.img,offset=1.5k",
  "tcp:127.0.0.1:1",
  "unix:{dir}/nobody.sock",
  "exec:cat>/dev/null",
  "fd:mig",
];

const INCOMING_URIS = [
  "file:{dir}/in.img",
  "file:{dir}/in.img,offset=0x1000",
  "file:{dir}/in.img,offset=0x20M",
  "tcp:127.0.0.1:0",
  "unix:{dir}/in.sock",
  "exec:true",
  "fd:mig",
];

export const capsStepArb: fc.Arbitrary<Step> = fc
  .array(
    fc.record({
      capability: fc.constantFrom(...SEQUENCE_CAPS),
      state: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .map((capabilities) => ({ call: "migrate-set-capabilities", capabilities }));

export const paramsStepArb: fc.Arbitrary<Step> = fc
  .uniqueArray(fc.constantFrom(...Object.keys(PARAM_VALUES)), { minLength: 1, maxLength: 2 })
  .chain((names) =>
    fc.tuple(...names.map((n) => fc.constantFrom(...(PARAM_VALUES[n] ?? [])))).map((values) => {
      const p: Record<string, unknown> = {};
      names.forEach((n, i) => {
        p[n] = values[i];
      });
      return { call: "migrate-set-parameters", params: p } as Step;
    }),
  );

const migrateStepArb: fc.Arbitrary<Step> = fc
  .constantFrom(...OUTGOING_URIS)
  .map((uri) => ({ call: "migrate", uri }) as Step);

const incomingStepArb: fc.Arbitrary<Step> = fc
  .constantFrom(...INCOMING_URIS)
  .map((uri) => ({ call: "migrate-incoming", uri }) as Step);

const sourceStepArb = fc.oneof(
  { weight: 4, arbitrary: capsStepArb },
  { weight: 3, arbitrary: paramsStepArb },
  { weight: 2, arbitrary: migrateStepArb },
);

const destinationStepArb = fc.oneof(
  { weight: 4, arbitrary: capsStepArb },
  { weight: 2, arbitrary: paramsStepArb },
  { weight: 2, arbitrary: incomingStepArb },
  { weight: 1, arbitrary: migrateStepArb },
);

export interface SequenceShape {
  role: "source" | "destination";
  steps: Step[];
}

export const sequenceArb: fc.Arbitrary<SequenceShape> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .array(sourceStepArb, { minLength: 1, maxLength: 8 })
      .map((steps) => ({ role: "source" as const, steps })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(destinationStepArb, { minLength: 1, maxLength: 8 })
      .map((steps) => ({ role: "destination" as const, steps })),
  },
);

/** `n` sequences for `seed`, as cases with ids `caps.seq.s<seed>.<i>`. */
export function sequenceCases(seed: number, n: number): CapsCase[] {
  return fc.sample(sequenceArb, { seed, numRuns: n }).map((shape, i) => ({
    id: sequenceId(seed, i),
    description: `generated sequence ${i} of seed ${seed} (${shape.role})`,
    role: shape.role,
    steps: shape.steps,
    stopAtFirstError: false,
  }));
}
