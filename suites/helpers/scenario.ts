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
