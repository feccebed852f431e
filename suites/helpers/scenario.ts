// fast-check arbitraries for a save scenario: blocks, page contents with zero runs and pages that differ
// only in their last byte, channel counts, file offsets, zero-page detection, live rounds.
import fc from "fast-check";

export type PageKind =
  | { kind: "zero" }
  | { kind: "fill"; byte: number }
  | { kind: "last"; byte: number }
  | { kind: "first"; byte: number };

export function pageBytes(p: PageKind): Uint8Array {
  const b = new Uint8Array(4096);
  if (p.kind === "fill") b.fill(p.byte);
  else if (p.kind === "last") b[4095] = p.byte;
  else if (p.kind === "first") b[0] = p.byte;
  return b;
}

export const pageKindArb: fc.Arbitrary<PageKind> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "zero" } as const) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 255 }).map((byte) => ({ kind: "fill", byte }) as const) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 255 }).map((byte) => ({ kind: "last", byte }) as const) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 255 }).map((byte) => ({ kind: "first", byte }) as const),
  },
);

/** A block's pages as runs (so zero runs and non-zero runs appear), 1..maxPages pages. */
export function blockPagesArb(maxPages: number): fc.Arbitrary<PageKind[]> {
  return fc
    .array(fc.tuple(pageKindArb, fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 8 })
    .map((runs) => runs.flatMap(([k, n]) => Array.from({ length: n }, () => k)).slice(0, maxPages));
}

/** idstrs: short, long (up to 255 bytes) and odd characters (as QEMU block names can be, e.g. /rom@etc/acpi/tables). */
export const idstrArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("r", "pc.ram", "/rom@etc/acpi/tables", "pc.bios", "ram"),
  fc.string({ unit: fc.constantFrom(..."abcXYZ09./@-_ :"), minLength: 1, maxLength: 40 }),
  fc.integer({ min: 200, max: 255 }).map((n) => "b".repeat(n)),
);

export interface BlockScenario {
  idstr: string;
  pages: PageKind[];
}

export function blocksArb(maxBlocks: number, maxPages: number): fc.Arbitrary<BlockScenario[]> {
  return fc.uniqueArray(fc.record({ idstr: idstrArb, pages: blockPagesArb(maxPages) }), {
    minLength: 1,
    maxLength: maxBlocks,
    // unique after `mrc extract`'s file-name mapping, so every block gets its own file
    selector: (b) => b.idstr.replace(/[^A-Za-z0-9._-]/g, "_"),
  });
}

/** file: offsets: 0, small, around 1 MiB boundaries, libvirt-like unaligned ones. */
export const offsetArb: fc.Arbitrary<bigint> = fc.oneof(
  // cross-shrink: a failing offset shrinks towards 0 from any branch
  { withCrossShrink: true },
  fc.constant(0n),
  fc.bigInt({ min: 1n, max: 0x20000n }),
  fc.constantFrom(0x1000n, 12345n, 0x100000n, 0x1fff00n, 0x1054en),
);

export const channelsArb: fc.Arbitrary<number | null> = fc.oneof(
  fc.constant(null),
  fc.integer({ min: 1, max: 16 }),
);

export const zpdArb = fc.constantFrom("none" as const, "legacy" as const, "multifd" as const);

export function imageOf(pages: PageKind[]): Uint8Array {
  const img = new Uint8Array(pages.length * 4096);
  pages.forEach((p, i) => {
    img.set(pageBytes(p), i * 4096);
  });
  return img;
}

/**
 * Block sizes right at the 64-page bitmap-word edges (63, 64, 65, 127, 128, 129, ...), one page and up,
 * filled with repeating runs so zero and non-zero pages still alternate.
 */
export function edgeSizedPagesArb(maxPages: number): fc.Arbitrary<PageKind[]> {
  const sizes = [1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256, 257].filter((n) => n <= maxPages);
  return fc
    .tuple(fc.constantFrom(...sizes), fc.array(pageKindArb, { minLength: 1, maxLength: 5 }))
    .map(([n, kinds]) => Array.from({ length: n }, (_, i) => kinds[i % kinds.length] as PageKind));
}

/** One page of a later round of a live save: block index (into the scenario's blocks), page, new contents. */
export interface DirtyPageScenario {
  block: number;
  page: number;
  kind: PageKind;
}

/**
 * Later rounds of a live save, independent of the blocks (so they shrink on their own): up to `maxRounds`
 * rounds of up to 24 dirty pages each, as block and page selectors that `fitRounds` maps onto the blocks.
 * New contents lean towards zero (a page zeroed after it was sent leaves stale bytes under a clear bit) and
 * the same page may be dirtied twice in one round (the last write wins).
 */
export function rawRoundsArb(maxRounds = 3): fc.Arbitrary<DirtyPageScenario[][]> {
  const dirty = fc.record({
    block: fc.nat(15),
    page: fc.nat(4095),
    kind: fc.oneof(
      { weight: 2, arbitrary: fc.constant<PageKind>({ kind: "zero" }) },
      { weight: 3, arbitrary: pageKindArb },
    ),
  });
  return fc.array(fc.array(dirty, { minLength: 1, maxLength: 24 }), { maxLength: maxRounds });
}

/** Maps round selectors onto `blocks`: block index and page taken modulo what exists. */
export function fitRounds(
  blocks: readonly BlockScenario[],
  raw: DirtyPageScenario[][],
): DirtyPageScenario[][] {
  return raw.map((round) =>
    round.map((d) => {
      const block = d.block % blocks.length;
      return { block, page: d.page % (blocks[block]?.pages.length ?? 1), kind: d.kind };
    }),
  );
}

/** Later rounds of a live save over `blocks` (see rawRoundsArb). */
export function liveRoundsArb(
  blocks: readonly BlockScenario[],
  maxRounds = 3,
): fc.Arbitrary<DirtyPageScenario[][]> {
  return rawRoundsArb(maxRounds).map((raw) => fitRounds(blocks, raw));
}

/** Each block's RAM after the rounds (what a loader must rebuild). */
export function finalPages(
  blocks: readonly BlockScenario[],
  rounds: readonly DirtyPageScenario[][],
): PageKind[][] {
  const out = blocks.map((b) => [...b.pages]);
  for (const round of rounds) {
    for (const d of round) {
      const pages = out[d.block];
      if (pages && d.page < pages.length) pages[d.page] = d.kind;
    }
  }
  return out;
}

/**
 * Capabilities that change bytes: x-ignore-shared listed (then every block record carries be64 mr->addr,
 * as QEMU 10.0.2 writes it) or not. multifd changes nothing in the file (see channelsArb).
 */
export const capabilitiesArb: fc.Arbitrary<{ ignoreShared: boolean }> = fc.record({
  ignoreShared: fc.oneof(
    { weight: 4, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
});

/** A whole save: blocks, file offset, channels, zero-page detection, live rounds, PART count, capabilities. */
export interface SaveScenario {
  blocks: BlockScenario[];
  offset: bigint;
  channels: number | null;
  zpd: "none" | "legacy" | "multifd";
  rounds: DirtyPageScenario[][];
  partSections: number;
  ignoreShared: boolean;
  /** be64 mr->addr per block (used when ignoreShared) */
  mrAddrs: bigint[];
}

export function saveScenarioArb(maxBlocks = 3, maxPages = 150): fc.Arbitrary<SaveScenario> {
  // every part is independent of the others (no chain), so each shrinks on its own
  return fc
    .record({
      blocks: fc.uniqueArray(
        fc.record({
          idstr: idstrArb,
          pages: fc.oneof({ weight: 3, arbitrary: blockPagesArb(maxPages) }, edgeSizedPagesArb(maxPages)),
        }),
        {
          minLength: 1,
          maxLength: maxBlocks,
          selector: (b) => b.idstr.replace(/[^A-Za-z0-9._-]/g, "_"),
        },
      ),
      offset: offsetArb,
      channels: channelsArb,
      zpd: zpdArb,
      partSections: fc.integer({ min: 0, max: 4 }),
      caps: capabilitiesArb,
      rounds: rawRoundsArb(),
      mrAddrs: fc.array(
        fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }).map((a) => a << 12n),
        { minLength: maxBlocks, maxLength: maxBlocks },
      ),
    })
    .map((r) => ({
      blocks: r.blocks,
      offset: r.offset,
      channels: r.channels,
      zpd: r.zpd,
      rounds: fitRounds(r.blocks, r.rounds),
      partSections: r.partSections,
      ignoreShared: r.caps.ignoreShared,
      mrAddrs: r.mrAddrs.slice(0, r.blocks.length),
    }));
}
