// Property tests of the oracle against the independent test builder (no src/impl here; the
// differential test against the reference writer is differential.test.ts).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkFile,
  expectedBitmap,
  expectedLayout,
  FINDING_CASES,
  memorySource,
} from "../../src/oracle/index.js";
import { imageOf, offsetArb, type Scenario, SEED, scenarioArb } from "./helpers/arbitraries.js";
import { type Built, buildFile } from "./helpers/builder.js";

function build(s: Scenario): Built {
  return buildFile({
    offset: s.offset,
    parts: s.parts,
    switchover: s.switchover,
    zeroPageDetection: s.zeroPageDetection,
    blocks: s.blocks.map((b) => ({ idstr: b.idstr, pages: b.pages, image: imageOf(b) })),
  });
}

const IDS = new Set<string>(FINDING_CASES.map((c) => c.id));

describe("arbitraries", () => {
  it("same seed, same scenarios", () => {
    const a = fc.sample(scenarioArb, { seed: SEED, numRuns: 5 });
    const b = fc.sample(scenarioArb, { seed: SEED, numRuns: 5 });
    expect(a).toEqual(b);
    expect(fc.sample(offsetArb, { seed: SEED, numRuns: 20 })).toEqual(
      fc.sample(offsetArb, { seed: SEED, numRuns: 20 }),
    );
  });
});

describe("oracle vs the test builder", () => {
  it("correct files have no findings; layout and bitmaps are what the oracle expects", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const built = build(s);
        const report = await checkFile(built.file, { offset: s.offset });
        expect(report.findings).toEqual([]);
        const layout = expectedLayout(
          s.blocks.map((b) => ({ idstr: b.idstr, usedLength: BigInt(b.pages * 4096) })),
          { startOffset: s.offset },
        );
        expect(
          layout.blocks.map((b) => [b.recordOffset, b.headerOffset, b.bitmapOffset, b.pagesOffset]),
        ).toEqual(built.blocks.map((b) => [b.record, b.header, b.bitmap, b.pages]));
        expect(report.blocks.map((b) => [b.idstr, b.usedLength, b.pagesOffset, b.resumeOffset])).toEqual(
          layout.blocks.map((b) => [b.idstr, b.usedLength, b.pagesOffset, b.resumeOffset]),
        );
        for (const [i, b] of s.blocks.entries()) {
          const l = layout.blocks[i];
          if (l === undefined) throw new Error("missing block");
          const want = expectedBitmap(imageOf(b), { zeroPageDetection: s.zeroPageDetection });
          expect(built.file.bytesAt(l.bitmapOffset, Number(l.bitmapSize))).toEqual(want);
        }
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it("--ram with each block's image: still no findings", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const built = build(s);
        const ram = s.blocks.map((b) => ({ idstr: b.idstr, image: memorySource(imageOf(b)) }));
        expect((await checkFile(built.file, { offset: s.offset, ram })).findings).toEqual([]);
      }),
      { seed: SEED, numRuns: 20 },
    );
  });
});

describe("decoder fuzz invariant: never throws, always reports truncation", () => {
  it("any truncation is reported, and before EOF it is a fail", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.double({ min: 0, max: 1, noNaN: true }), async (s, where) => {
        const built = build(s);
        const cut = BigInt(Math.floor(where * Number(built.file.size - 1n)));
        const { findings } = await checkFile(built.file.clone().truncate(cut), { offset: s.offset });
        expect(findings.length).toBeGreaterThan(0);
        if (cut <= built.eof) expect(findings.some((f) => f.severity === "fail")).toBe(true);
        for (const f of findings) expect(IDS.has(f.id)).toBe(true);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it("overwriting bytes anywhere in the structures gives findings, never an exception", async () => {
    const mutation = fc.record({
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
      region: fc.constantFrom("head", "tail", "anywhere"),
    });
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), async (s, muts) => {
        const built = build(s);
        const file = built.file.clone();
        const headEnd = built.blocks[0]?.pages ?? built.setupEos; // up to the first page array
        for (const m of muts) {
          const [lo, hi] =
            m.region === "head"
              ? [built.start, headEnd]
              : m.region === "tail"
                ? [built.blocks.at(-1)?.resume ?? built.start, built.file.size]
                : [0n, built.file.size];
          file.patch(lo + BigInt(Math.floor(m.at * Number(hi - lo))), m.bytes);
        }
        const { findings } = await checkFile(file, { offset: s.offset });
        for (const f of findings) {
          expect(IDS.has(f.id)).toBe(true);
          expect(f.offset >= 0n).toBe(true);
          expect(f.message).not.toContain("\n");
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it("random bytes and random offsets: findings, never an exception", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.bigInt({ min: 0n, max: 400n }),
        async (bytes, offset) => {
          const { findings } = await checkFile(memorySource(bytes), { offset });
          expect(findings.length).toBeGreaterThan(0);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});
