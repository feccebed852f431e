// The mutation campaign, bounded by time for CI (FUZZ_SECONDS, default 30; `npm run fuzz -- --minutes M`
// runs a long one through this same test). Seeds: our writer's files, an ordinary precopy stream and QEMU
// 10.0.2's goldens; targets: the reader, extract, inspect, the oracle, and `mrc verify/inspect/extract`.
// Any finding fails the test and is printed with its seed, case index, mutations and (shrunk) counterexample.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FC_SEED } from "../helpers/fc.js";
import { ALL_TARGETS, defaultScratchRoot, runCampaign, staleDist, type Target } from "./engine.js";
import { formatReport } from "./report.js";
import { qemuGoldenSeeds, type Seed, writerSeeds } from "./seeds.js";

const minutes = Number(process.env.FUZZ_MINUTES ?? "0");
const BUDGET_MS = minutes > 0 ? minutes * 60_000 : Number(process.env.FUZZ_SECONDS ?? "30") * 1000;
const REPLAY = process.env.FUZZ_REPLAY === undefined ? undefined : Number(process.env.FUZZ_REPLAY);
const TARGETS = (process.env.FUZZ_TARGETS?.split(",").filter((t) => t !== "") ?? [
  ...ALL_TARGETS,
]) as Target[];

describe("mutation campaign", () => {
  let scratch: string;
  let seeds: Seed[];
  let skipped: string[];
  beforeAll(async () => {
    scratch = await mkdtemp(join(await defaultScratchRoot(), "mrc-fuzz-"));
    const qemu = await qemuGoldenSeeds();
    seeds = [...(await writerSeeds(scratch)), ...qemu.seeds];
    skipped = qemu.skipped;
  }, 120_000);
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    "the reader, extract, inspect, the oracle and the CLI survive mutated files: a result or our typed error, in time and memory, and they still read good files",
    async () => {
      const stale = await staleDist();
      if (stale) console.warn(`fuzz: ${stale} (the campaign runs the built tools)`);
      if (skipped.length > 0) console.warn(`fuzz: QEMU goldens left out: ${skipped.join(", ")}`);
      const report = await runCampaign({
        seeds,
        fcSeed: FC_SEED,
        budgetMs: BUDGET_MS,
        targets: TARGETS,
        scratch,
        ...(process.env.FUZZ_FINDINGS_DIR ? { findingsDir: process.env.FUZZ_FINDINGS_DIR } : {}),
        shrinkMs: minutes > 0 ? 60_000 : 10_000,
        ...(REPLAY === undefined ? {} : { replay: REPLAY }),
        allTargetsEveryCase: process.env.FUZZ_ALL_TARGETS === "1",
        log: (l) => console.log(`fuzz: ${l}`),
      });
      const text = formatReport(report);
      console.log(text);
      if (process.env.FUZZ_REPORT) await writeFile(process.env.FUZZ_REPORT, `${text}\n`);
      expect(
        report.distinct.map(
          (f) =>
            `${f.target} ${f.kind} (case ${f.caseIndex}): ${f.detail.split("\n")[0]} [${f.seedFile}: ${f.mutations.join("; ")}]`,
        ),
      ).toEqual([]);
      if (REPLAY === undefined) {
        expect(report.cases).toBeGreaterThan(20);
        for (const t of TARGETS) expect(report.perTarget[t]?.cases ?? 0).toBeGreaterThan(0);
      }
    },
    BUDGET_MS + 240_000,
  );
});
