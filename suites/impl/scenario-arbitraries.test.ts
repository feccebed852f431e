// The scenario arbitraries are tested themselves (as fast-check tests its own): the same seed gives the
// same values, another seed other values, values stay in their domain, and shrinking a failing value
// gives a smaller one, down to a small counterexample.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FC_SEED } from "../helpers/fc.js";
import {
  blockPagesArb,
  blocksArb,
  channelsArb,
  edgeSizedPagesArb,
  finalPages,
  idstrArb,
  liveRoundsArb,
  offsetArb,
  type PageKind,
  pageKindArb,
  type SaveScenario,
  saveScenarioArb,
  zpdArb,
} from "../helpers/scenario.js";

// biome-ignore lint/suspicious/noExplicitAny: a list of arbitraries of different types
const ARBS: Record<string, fc.Arbitrary<any>> = {
  pageKind: pageKindArb,
  blockPages: blockPagesArb(300),
  edgeSizedPages: edgeSizedPagesArb(300),
  idstr: idstrArb,
  blocks: blocksArb(3, 150),
  offset: offsetArb,
  channels: channelsArb,
  zpd: zpdArb,
  liveRounds: blocksArb(3, 50).chain((b) => liveRoundsArb(b)),
  saveScenario: saveScenarioArb(),
};

const pagesOf = (s: SaveScenario) => s.blocks.reduce((n, b) => n + b.pages.length, 0);
const dirtyOf = (s: SaveScenario) => s.rounds.reduce((n, r) => n + r.length, 0);

/**
 * Runs a property that fails once `size(v) >= threshold` and returns the first failing value and the
 * shrunk counterexample.
 */
function shrinkOnce<T>(arb: fc.Arbitrary<T>, size: (v: T) => number, threshold: number, seed = FC_SEED) {
  let first: T | undefined;
  const details = fc.check(
    fc.property(arb, (v) => {
      const ok = size(v) < threshold;
      if (!ok && first === undefined) first = v;
      return ok;
    }),
    { seed, numRuns: 2000 },
  );
  return { details, first: first as T, shrunk: details.counterexample?.[0] as T };
}

describe("scenario arbitraries", () => {
  for (const [name, arb] of Object.entries(ARBS)) {
    it(`${name}: the same seed gives the same values, another seed others`, () => {
      const a = fc.sample(arb, { seed: FC_SEED, numRuns: 30 });
      const b = fc.sample(arb, { seed: FC_SEED, numRuns: 30 });
      expect(b).toEqual(a);
      const c = fc.sample(arb, { seed: FC_SEED + 1, numRuns: 30 });
      expect(c).not.toEqual(a);
    });
  }

  it("a replay by seed and path gives the failing value again (what FC_SEED=... reproduces)", () => {
    const d = fc.check(
      fc.property(saveScenarioArb(), (s) => pagesOf(s) < 100),
      { seed: FC_SEED },
    );
    expect(d.failed).toBe(true);
    const again = fc.check(
      fc.property(saveScenarioArb(), (s) => pagesOf(s) < 100),
      { seed: d.seed, path: d.counterexamplePath ?? "", endOnFailure: true },
    );
    expect(again.counterexample).toEqual(d.counterexample);
  });

  it("values stay in their domain", () => {
    for (const s of fc.sample(saveScenarioArb(), { seed: FC_SEED, numRuns: 200 })) {
      expect(s.blocks.length).toBeGreaterThanOrEqual(1);
      expect(s.mrAddrs.length).toBe(s.blocks.length);
      for (const b of s.blocks) {
        expect(b.pages.length).toBeGreaterThanOrEqual(1);
        expect(b.idstr.length).toBeGreaterThanOrEqual(1);
        expect(b.idstr.length).toBeLessThanOrEqual(255);
      }
      // unique after the extract file-name mapping
      const names = s.blocks.map((b) => b.idstr.replace(/[^A-Za-z0-9._-]/g, "_"));
      expect(new Set(names).size).toBe(names.length);
      for (const round of s.rounds) {
        for (const d of round) {
          expect(d.page).toBeLessThan(s.blocks[d.block]?.pages.length ?? 0);
        }
      }
      for (const a of s.mrAddrs) expect(a % 4096n).toBe(0n);
      expect(s.offset >= 0n).toBe(true);
      if (s.channels !== null) expect(s.channels >= 1 && s.channels <= 16).toBe(true);
    }
  });

  it("covers what the issue asks for: long and odd idstrs, sizes off 64-page multiples, zero runs, last-byte pages", () => {
    const sample = fc.sample(saveScenarioArb(), { seed: FC_SEED, numRuns: 300 });
    const blocks = sample.flatMap((s) => s.blocks);
    expect(blocks.some((b) => b.idstr.length === 255)).toBe(true);
    expect(blocks.some((b) => /[^A-Za-z0-9._-]/.test(b.idstr))).toBe(true);
    expect(blocks.some((b) => b.pages.length % 64 !== 0)).toBe(true);
    expect(blocks.some((b) => b.pages.length === 64 || b.pages.length === 128)).toBe(true);
    expect(blocks.some((b) => b.pages.length === 1)).toBe(true);
    const zeroRun = (p: PageKind[]) => p.some((k, i) => k.kind === "zero" && p[i + 1]?.kind === "zero");
    expect(blocks.some((b) => zeroRun(b.pages))).toBe(true);
    expect(blocks.some((b) => b.pages.some((k) => k.kind === "last"))).toBe(true);
    expect(sample.some((s) => s.rounds.length > 0)).toBe(true);
    expect(sample.some((s) => s.ignoreShared)).toBe(true);
    expect(sample.some((s) => s.channels === null)).toBe(true);
    expect(new Set(sample.map((s) => s.zpd)).size).toBe(3);
    // a page zeroed in a later round after it held data: the stale-page case
    expect(
      sample.some((s) =>
        s.rounds.some((r) =>
          r.some((d) => d.kind.kind === "zero" && s.blocks[d.block]?.pages[d.page]?.kind !== "zero"),
        ),
      ),
    ).toBe(true);
  });

  it("finalPages applies rounds in order, the last write of a page winning", () => {
    const blocks = [{ idstr: "r", pages: [{ kind: "zero" }, { kind: "fill", byte: 1 }] as PageKind[] }];
    const out = finalPages(blocks, [
      [
        { block: 0, page: 0, kind: { kind: "fill", byte: 2 } },
        { block: 0, page: 0, kind: { kind: "last", byte: 3 } },
      ],
      [{ block: 0, page: 1, kind: { kind: "zero" } }],
    ]);
    expect(out).toEqual([[{ kind: "last", byte: 3 }, { kind: "zero" }]]);
    // the input is left alone
    expect(blocks[0]?.pages[1]).toEqual({ kind: "fill", byte: 1 });
  });
});

describe("shrinking gets smaller", () => {
  it("total pages: the counterexample is smaller than the first failure and at the threshold", () => {
    const { details, first, shrunk } = shrinkOnce(saveScenarioArb(), pagesOf, 70);
    expect(details.failed).toBe(true);
    expect(details.numShrinks).toBeGreaterThan(0);
    expect(pagesOf(shrunk)).toBeLessThanOrEqual(pagesOf(first));
    expect(pagesOf(shrunk)).toBeGreaterThanOrEqual(70);
    expect(pagesOf(shrunk)).toBeLessThan(70 + 40);
    // nothing irrelevant survives: no rounds, no offset, no PART records
    expect(shrunk.rounds).toEqual([]);
    expect(shrunk.offset).toBe(0n);
    expect(shrunk.partSections).toBe(0);
  });

  it("block count: two blocks of one page each remain", () => {
    const { details, shrunk } = shrinkOnce(saveScenarioArb(), (s) => s.blocks.length, 2);
    expect(details.failed).toBe(true);
    expect(shrunk.blocks.length).toBe(2);
    for (const b of shrunk.blocks) expect(b.pages.length).toBe(1);
  });

  it("live rounds: the counterexample keeps exactly the dirty pages needed", () => {
    const { details, first, shrunk } = shrinkOnce(saveScenarioArb(), dirtyOf, 5);
    expect(details.failed).toBe(true);
    expect(dirtyOf(shrunk)).toBeLessThanOrEqual(dirtyOf(first));
    expect(dirtyOf(shrunk)).toBe(5);
    expect(shrunk.blocks.length).toBe(1);
    expect(shrunk.blocks[0]?.pages.length).toBe(1);
    expect(shrunk.offset).toBe(0n);
  });

  it("offsets shrink towards the smallest offset that still fails", () => {
    const { details, first, shrunk } = shrinkOnce(offsetArb, (o) => Number(o), 0x1000);
    expect(details.failed).toBe(true);
    expect(shrunk <= first).toBe(true);
    expect(shrunk).toBe(0x1000n);
  });

  it("idstrs shrink towards short names", () => {
    const { details, first, shrunk } = shrinkOnce(idstrArb, (s) => s.length, 3);
    expect(details.failed).toBe(true);
    expect(shrunk.length).toBeLessThanOrEqual(first.length);
    expect(shrunk.length).toBeLessThan(10);
  });

  it("every shrink candidate of a scenario is no larger than the scenario", () => {
    // the values fast-check tries while shrinking, in order: each is no larger than the first failure
    const seen: SaveScenario[] = [];
    fc.check(
      fc.property(saveScenarioArb(), (s) => {
        if (pagesOf(s) < 60) return true;
        seen.push(s);
        return false;
      }),
      { seed: FC_SEED, numRuns: 2000 },
    );
    const first = seen[0] as SaveScenario;
    expect(seen.length).toBeGreaterThan(1);
    for (const s of seen.slice(1)) {
      expect(pagesOf(s) + dirtyOf(s) + s.blocks.length).toBeLessThanOrEqual(
        pagesOf(first) + dirtyOf(first) + first.blocks.length,
      );
    }
  });
});
