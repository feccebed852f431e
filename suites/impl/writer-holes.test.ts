// A sparse RAM image file: pages in its holes are zero, so the save neither reads nor writes them (issue
// 9: skip holes with SEEK_DATA where the filesystem supports it). The file must be byte for byte what a
// save that reads every page gives.
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dataExtents } from "../../src/impl/allocation.js";
import { planSave } from "../../src/impl/save.js";
import { type FileSource, MemorySource } from "../../src/impl/source.js";
import { type SavePlan, type SaveResult, saveMappedRam } from "../../src/impl/writer.js";
import type { ZeroPageDetection } from "../../src/impl/zero-page.js";
import { tempDir } from "../cli/fixtures.js";

const PAGE = 4096;
const PAGES = 24576; // 96 MiB: above the 64 MiB from which holes are looked for
const dir = await tempDir("writer-holes");
const image = join(dir, "sparse.img");

/** Data at page 0, pages 1000-1999, an allocated all-zero page 5000, and the last page; holes elsewhere. */
async function writeSparseImage(): Promise<Uint8Array> {
  const whole = new Uint8Array(PAGES * PAGE);
  const put = (page: number, bytes: Uint8Array) => whole.set(bytes, page * PAGE);
  put(0, new Uint8Array(PAGE).fill(0x11));
  for (let p = 1000; p < 2000; p++) put(p, new Uint8Array(PAGE).fill((p % 200) + 1));
  put(PAGES - 1, new Uint8Array(PAGE).fill(0xee));
  const fh = await open(image, "w");
  try {
    await fh.truncate(PAGES * PAGE);
    for (const [first, end] of [
      [0, 1],
      [1000, 2000],
      [5000, 5001], // zeros written: allocated, so read, found zero, bit clear
      [PAGES - 1, PAGES],
    ] as const) {
      await fh.write(whole, first * PAGE, (end - first) * PAGE, first * PAGE);
    }
  } finally {
    await fh.close();
  }
  return whole;
}

const whole = await writeSparseImage();

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Saves the image with `edit` applied to the plan; returns the file's bytes and the result. */
async function save(name: string, edit: (plan: SavePlan) => void): Promise<[Buffer, SaveResult]> {
  const path = join(dir, name);
  const sources = new Map<string, FileSource>();
  try {
    const plan = await planSave({ path, blocks: [{ idstr: "pc.ram", image }] }, sources);
    edit(plan);
    const result = await saveMappedRam(path, plan);
    return [await readFile(path), result];
  } finally {
    for (const s of sources.values()) await s.close();
  }
}

describe("a sparse RAM image file", () => {
  it("the kernel reports its holes (the test's premise)", async () => {
    const extents = await dataExtents(image);
    expect(extents).toBeDefined();
    const covered = (extents ?? []).reduce((n, [a, b]) => n + (b - a), 0n);
    expect(covered < BigInt(PAGES * PAGE)).toBe(true);
  });

  const cases: Array<[number | null, ZeroPageDetection]> = [
    [null, "multifd"],
    [2, "multifd"],
    [3, "legacy"],
    [null, "none"],
  ];
  it.each(cases)("multifd %s, zero-page-detection %s: the file reading every page gives", async (ch, zpd) => {
    const set = (plan: SavePlan) => {
      plan.multifdChannels = ch;
      plan.zeroPageDetection = zpd;
    };
    const progress: bigint[] = [];
    const [skipping, result] = await save(`skip-${ch}-${zpd}.mig`, (plan) => {
      set(plan);
      plan.onProgress = (d) => progress.push(d);
    });
    const [reading, full] = await save(`read-${ch}-${zpd}.mig`, (plan) => {
      set(plan);
      // over memory: no file, so every page is read
      (plan.blocks[0] as { image: unknown }).image = new MemorySource(whole);
    });
    expect(Buffer.compare(skipping, reading)).toBe(0);
    // pages written: 1 + 1000 + 1 non-zero pages, or every page with zero-page-detection=none
    const b = result.blocks[0];
    expect(b?.pagesWritten).toBe(zpd === "none" ? PAGES : 1002);
    expect(full.blocks[0]?.pagesInHoles).toBe(0);
    // the pages not read are those the kernel's data extents leave out (none when every page is written)
    const extents = (await dataExtents(image)) ?? [];
    let withData = 0;
    for (let p = 0; p < PAGES; p++) {
      const a = BigInt(p * PAGE);
      if (extents.some(([s, e]) => s < a + BigInt(PAGE) && e > a)) withData++;
    }
    expect(b?.pagesInHoles).toBe(zpd === "none" ? 0 : PAGES - withData);
    if (zpd !== "none") expect(b?.pagesInHoles).toBeGreaterThan(PAGES / 2);
    // progress still runs to the whole of RAM, in order
    expect(progress.at(-1)).toBe(BigInt(PAGES * PAGE));
    expect(progress.every((d, i) => i === 0 || d >= (progress[i - 1] as bigint))).toBe(true);
  });
});
