// Truncation at every byte of the structural parts (everything but page data and JSON) of small seeds: the
// reader ends with ERR_TRUNCATED — not another code, not another exception — whenever the cut is before
// the end of the EOF record; extract leaves no block file; the oracle reports the cut without throwing.
// (Cuts inside page data are the campaign's: suites/fuzz/mutation.test.ts.)
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { extractBlocks } from "../../src/impl/extract.js";
import { parseStream } from "../../src/impl/reader.js";
import { MemorySource } from "../../src/impl/source.js";
import { checkFile, memorySource } from "../../src/oracle/index.js";
import { mapSeed } from "./fields.js";
import { type Seed, writerSeeds } from "./seeds.js";

let dir: string;
let seeds: Seed[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrc-trunc-"));
  seeds = (await writerSeeds(dir)).filter(
    (s) => s.name === "writer.small" || s.name === "precopy.pagesAndZeros",
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Cut positions: every byte of every structure (fields.ts: headers, records, bitmaps, footers), a sample
 * of the opaque runs, not the page arrays and not the alignment padding before them.
 */
async function cuts(s: Seed): Promise<{ positions: number[]; eofEnd: number }> {
  const map = await mapSeed(s.bytes, s.offset);
  const eof = map.fields.find((f) => f.name === "EOF");
  if (!eof) throw new Error("seed without EOF");
  const set = new Set<number>();
  for (const f of map.fields) {
    if (f.kind === "pages") continue;
    // opaque runs (the vmdesc JSON, device payloads, inline page records): both ends and every 37th byte
    const opaque = f.kind === "json" || f.kind === "payload";
    for (let p = f.at; p <= f.at + f.size; p++) {
      if (!opaque || p - f.at < 8 || f.at + f.size - p < 8 || (p - f.at) % 37 === 0) set.add(p);
    }
  }
  return { positions: [...set].sort((a, b) => a - b), eofEnd: eof.at + 1 };
}

describe("truncation at every structural byte", () => {
  it("the reader says ERR_TRUNCATED before EOF, a result or a typed error after it", async () => {
    for (const s of seeds) {
      const { positions, eofEnd } = await cuts(s);
      expect(positions.length).toBeGreaterThan(100);
      const opts = s.offset === undefined ? {} : { offset: s.offset };
      for (const cut of positions) {
        const src = new MemorySource(s.bytes.subarray(0, cut));
        const outcome = await parseStream(src, opts).then(
          () => "ok",
          (e: unknown) => e,
        );
        if (cut < eofEnd) {
          expect(outcome, `${s.name} cut at 0x${cut.toString(16)}`).toBeInstanceOf(MappedRamError);
          expect((outcome as MappedRamError).code, `${s.name} cut at 0x${cut.toString(16)}`).toBe(
            "ERR_TRUNCATED",
          );
        } else if (outcome !== "ok") {
          expect(outcome).toBeInstanceOf(MappedRamError);
        }
      }
    }
  }, 60_000);

  it("extract leaves no block file, and the oracle reports every cut, without throwing", async () => {
    for (const s of seeds) {
      const { positions, eofEnd } = await cuts(s);
      const opts = s.offset === undefined ? {} : { offset: s.offset };
      // every 3rd byte for extract (it writes files); every byte for the oracle
      for (const [i, cut] of positions.entries()) {
        const bytes = s.bytes.subarray(0, cut);
        const { findings } = await checkFile(memorySource(bytes), opts);
        if (cut < eofEnd)
          expect(
            findings.some((f) => f.severity === "fail"),
            `cut 0x${cut.toString(16)}`,
          ).toBe(true);
        if (i % 3 !== 0) continue;
        const out = join(dir, `${s.name}-${cut}`);
        await extractBlocks(new MemorySource(bytes), out, opts).then(
          async () => {
            expect(cut).toBeGreaterThanOrEqual(eofEnd);
            await rm(out, { recursive: true, force: true });
          },
          async (e: unknown) => {
            expect(e).toBeInstanceOf(MappedRamError);
            expect(await readdir(out)).toEqual([]);
          },
        );
      }
    }
  }, 120_000);
});
