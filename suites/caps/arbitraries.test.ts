// The sequence arbitraries and the case lists are themselves tested: deterministic per seed, the right
// sizes, and every generated call is one the model answers (no unsupported input, no exception).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { capSubsets, incomingMatrix, outgoingMatrix } from "../../src/conformance/caps/cases.js";
import { runModelCase, runModelStep } from "../../src/conformance/caps/compare.js";
import { PINNED } from "../../src/conformance/caps/pinned.js";
import { DEFAULT_SEED, sequenceArb, sequenceCases } from "../../src/conformance/caps/sequences.js";
import { MigrationSession } from "../../src/impl/caps/index.js";

describe("sequence arbitraries", () => {
  it("same seed → same cases; another seed → other cases", () => {
    expect(sequenceCases(DEFAULT_SEED, 50)).toEqual(sequenceCases(DEFAULT_SEED, 50));
    expect(sequenceCases(DEFAULT_SEED + 1, 50)).not.toEqual(sequenceCases(DEFAULT_SEED, 50));
    expect(fc.sample(sequenceArb, { seed: 7, numRuns: 5 })).toEqual(
      fc.sample(sequenceArb, { seed: 7, numRuns: 5 }),
    );
  });

  it("the first n of a longer list are the n of a shorter one (expectation entries hold for any count)", () => {
    expect(sequenceCases(DEFAULT_SEED, 300).slice(0, 100)).toEqual(sequenceCases(DEFAULT_SEED, 100));
  });

  it("ids embed the seed and the index", () => {
    expect(sequenceCases(42, 3).map((c) => c.id)).toEqual([
      "caps.seq.s42.0",
      "caps.seq.s42.1",
      "caps.seq.s42.2",
    ]);
  });

  it("the model answers every generated sequence, deterministically", () => {
    fc.assert(
      fc.property(sequenceArb, (shape) => {
        const a = new MigrationSession({ role: shape.role });
        const b = new MigrationSession({ role: shape.role });
        for (const step of shape.steps) {
          expect(runModelStep(a, step)).toEqual(runModelStep(b, step));
        }
      }),
      { seed: DEFAULT_SEED, numRuns: 500 },
    );
  });
});

describe("case lists", () => {
  it("256 subsets; 2560 outgoing and 2560 incoming cases with unique ids", () => {
    expect(capSubsets()).toHaveLength(256);
    const ids = [
      ...outgoingMatrix(),
      ...incomingMatrix(),
      ...PINNED,
      ...sequenceCases(DEFAULT_SEED, 300),
    ].map((c) => c.id);
    expect(outgoingMatrix()).toHaveLength(2560);
    expect(incomingMatrix()).toHaveLength(2560);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("the model answers every listed case without throwing", () => {
    for (const c of [...outgoingMatrix(), ...incomingMatrix(), ...PINNED]) {
      expect(() => runModelCase(c, "/tmp/d")).not.toThrow();
    }
  });
});
