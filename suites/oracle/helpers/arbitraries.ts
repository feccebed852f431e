// fast-check arbitraries for "a scenario": blocks with sizes and page contents (zero runs included),
// a file offset, PART count, zero-page detection. Deterministic: fast-check is the only randomness.
import fc from "fast-check";

/** The seed of every oracle property (FC_SEED replays a failure). */
export const SEED = Number(process.env.FC_SEED ?? 0x6d7263);

export type PageKind =
  | { kind: "fill"; byte: number }
  | { kind: "lastByte"; byte: number }
  | { kind: "word"; at: number };

export interface BlockScenario {
  readonly idstr: string;
  readonly pages: number;
  /** non-zero pages by index; every other page is zero */
  readonly content: ReadonlyArray<{ readonly page: number; readonly what: PageKind }>;
}

export interface Scenario {
  readonly offset: bigint;
  readonly blocks: readonly BlockScenario[];
  readonly parts: number;
  readonly switchover: boolean;
  readonly zeroPageDetection: "none" | "multifd";
}

const MIB = 0x100000n;

/** File offsets: 0, small, page multiples, and right around 1 MiB boundaries (where rounding bites). */
export const offsetArb: fc.Arbitrary<bigint> = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 1n, max: 0x3000n }),
  fc.integer({ min: 1, max: 700 }).map((n) => BigInt(n) * 0x1000n),
  fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: -0x400, max: 0x40 }))
    .map(([m, d]) => BigInt(m) * MIB + BigInt(d)),
);

const pageKindArb: fc.Arbitrary<PageKind> = fc.oneof(
  fc.integer({ min: 1, max: 255 }).map((byte) => ({ kind: "fill" as const, byte })),
  fc.integer({ min: 1, max: 255 }).map((byte) => ({ kind: "lastByte" as const, byte })),
  fc.integer({ min: 0, max: 4095 }).map((at) => ({ kind: "word" as const, at })),
);

function blockArb(idstr: string): fc.Arbitrary<BlockScenario> {
  return fc.integer({ min: 1, max: 300 }).chain((pages) =>
    fc
      .uniqueArray(fc.record({ page: fc.integer({ min: 0, max: pages - 1 }), what: pageKindArb }), {
        selector: (c) => c.page,
        maxLength: Math.min(pages, 40),
      })
      .map((content) => ({ idstr, pages, content })),
  );
}

const idstrArb = fc.stringMatching(/^[a-z/][a-z0-9.@/-]{0,24}$/);

export const scenarioArb: fc.Arbitrary<Scenario> = fc
  .uniqueArray(idstrArb, { minLength: 1, maxLength: 4 })
  .chain((names) => fc.tuple(...names.map(blockArb)))
  .chain((blocks) =>
    fc.record({
      offset: offsetArb,
      blocks: fc.constant(blocks),
      parts: fc.integer({ min: 0, max: 4 }),
      switchover: fc.boolean(),
      zeroPageDetection: fc.constantFrom("multifd" as const, "none" as const),
    }),
  );

/** The block's RAM image for a scenario block. */
export function imageOf(b: BlockScenario): Uint8Array {
  const img = new Uint8Array(b.pages * 4096);
  for (const { page, what } of b.content) {
    const p = img.subarray(page * 4096, (page + 1) * 4096);
    if (what.kind === "fill") p.fill(what.byte);
    else if (what.kind === "lastByte") p[4095] = what.byte;
    else p[what.at] = 0x5a;
  }
  return img;
}
