// The campaign's own checks, tested: targets that break each invariant on purpose (case-worker.mjs
// `selftest.*`) must come back as findings of the right kind — an exception that is not our error, a
// synchronous endless loop (the worker is terminated and restarted), memory growth past the bound, a file
// left behind — and the campaign must go on after each.
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultScratchRoot, runCampaign } from "./engine.js";
import { type Seed, writerSeeds } from "./seeds.js";

let scratch: string;
let seeds: Seed[];
beforeAll(async () => {
  scratch = await mkdtemp(join(await defaultScratchRoot(), "mrc-fuzz-harness-"));
  seeds = (await writerSeeds(scratch)).filter((s) => s.name === "writer.small");
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("the campaign catches what it must", () => {
  for (const [target, kind, reportedAs] of [
    ["selftest.untyped", "untyped", "selftest.untyped"],
    ["selftest.hang", "hang", "selftest.hang"],
    ["selftest.memory", "memory", undefined],
    ["selftest.leftover", "leftover", "scratch"],
  ] as const) {
    it(`${target}: a ${kind} finding, and the campaign goes on`, async () => {
      const r = await runCampaign({
        seeds,
        fcSeed: 1,
        budgetMs: 2500,
        targets: [target],
        targetTimeoutMs: 1000,
        memoryLimitMb: 256,
        shrinkMs: 0,
        scratch,
      });
      expect(r.distinct.map((f) => f.kind)).toEqual([kind]);
      if (reportedAs) expect(r.distinct[0]?.target).toBe(reportedAs);
      expect(r.cases).toBeGreaterThanOrEqual(2);
      if (kind === "hang" || kind === "memory") expect(r.restarts).toBeGreaterThanOrEqual(1);
    }, 60_000);
  }
});
