// The mutation campaign: fast-check generates cases (a seed file and structure-aware mutations, see
// mutations.ts; FC_SEED replays), a worker thread runs every target on each (case-worker.mjs), and this
// side enforces the bounds and keeps score.
//
// Invariant per target: a result or our typed error (MappedRamError; for the oracle: findings, never an
// exception); extract leaves no block file when it refuses; the CLI exits 0 or 1 with one `mrc: ERR_...`
// line; the same tool instances still read the unmutated seed as before. Bounds: a target running longer
// than `targetTimeoutMs` is a hang (the worker is terminated and restarted); memory is measured three
// ways — the worker's heap is capped by `resourceLimits` (exceeding it ends the worker), the worker
// reports its peak ArrayBuffer and heap growth per case (sampled every 5 ms), and this thread samples the
// process RSS every 5 ms while a case runs — growth above `memoryLimitMb` in any of them is a finding.
import { mkdir, stat, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { checkFile, memorySource } from "../../src/oracle/index.js";
import { mapSeed, type SeedMap } from "./fields.js";
import { applyEdits, caseArb, type FuzzCase } from "./mutations.js";
import { CaseRunner, MB } from "./runner.js";
import { REPO_ROOT, type Seed } from "./seeds.js";

export const ALL_TARGETS = [
  "impl.parse",
  "impl.extract",
  "impl.inspect",
  "oracle.check",
  "cli.verify",
  "cli.inspect",
  "cli.extract",
] as const;
export type Target = (typeof ALL_TARGETS)[number];

export interface TargetResult {
  target: string;
  status: "ok" | "typed" | "fail";
  code?: string;
  kind?: string;
  detail?: string;
  ms: number;
}

export interface Finding {
  /** the run index of the case: FC_SEED=<seed> FUZZ_REPLAY=<caseIndex> replays it */
  caseIndex: number;
  seedFile: string;
  mutations: string[];
  target: string;
  kind: string;
  detail: string;
  signature: string;
  /** where the mutated file was saved */
  file?: string;
  /** the smallest case fast-check found that fails the same way */
  shrunk?: { seedFile: string; mutations: string[]; file?: string };
}

export interface TargetStats {
  cases: number;
  ok: number;
  typed: number;
  fail: number;
  ms: number;
  codes: Record<string, number>;
}

export interface CampaignReport {
  fcSeed: number;
  cases: number;
  durationMs: number;
  seeds: string[];
  perTarget: Record<string, TargetStats>;
  findings: Finding[];
  /** distinct findings (by signature), first occurrence */
  distinct: Finding[];
  /**
   * The reader against the oracle on the same mutated files (of seeds both accept): files the reader reads
   * but the oracle fails, and the other way round — not an invariant (the oracle judges what QEMU would
   * load, the reader decodes what it can) but worth a look — with the first examples of each.
   */
  agreement: {
    both: number;
    readerOnly: { count: number; examples: string[] };
    oracleOnly: { count: number; examples: string[] };
  };
  peakRssGrowthMb: number;
  peakWorkerArrayBuffersMb: number;
  restarts: number;
}

export interface CampaignOptions {
  seeds: Seed[];
  fcSeed: number;
  budgetMs: number;
  /** the targets (default ALL_TARGETS; `selftest.*` targets break an invariant on purpose) */
  targets?: readonly string[];
  /** a single target running longer than this is a hang (default 5000) */
  targetTimeoutMs?: number;
  /** growth of RSS, ArrayBuffers or heap within one case above this is a finding (default 256) */
  memoryLimitMb?: number;
  /** re-read the unmutated seed every N cases (and after every broken invariant); default 8 */
  reuseEvery?: number;
  /** scratch space for the worker (default: /dev/shm when present) */
  scratch: string;
  /** save mutated files of findings here */
  findingsDir?: string;
  /** time for shrinking each distinct finding (default 20 s; 0: no shrinking) */
  shrinkMs?: number;
  /** run only this case index (a replay) */
  replay?: number;
  /** every target on every case (default: the reader and the oracle on every case, the others in turn) */
  allTargetsEveryCase?: boolean;
  log?: (line: string) => void;
}

/** Warns when dist/ (which the worker runs) is older than the sources it is built from. */
export async function staleDist(): Promise<string | undefined> {
  const pairs = [
    ["src/impl/reader.ts", "dist/impl/reader.js"],
    ["src/impl/ram-load.ts", "dist/impl/ram-load.js"],
    ["src/impl/extract.ts", "dist/impl/extract.js"],
    ["src/impl/inspect.ts", "dist/impl/inspect.js"],
    ["src/oracle/check.ts", "dist/oracle/check.js"],
    ["src/cli/main.ts", "dist/cli/main.js"],
    ["src/cli/main.ts", "dist/bin/mrc.js"],
  ];
  for (const [src, out] of pairs) {
    const a = await stat(join(REPO_ROOT, src as string)).catch(() => undefined);
    const b = await stat(join(REPO_ROOT, out as string)).catch(() => undefined);
    if (!b) return `${out} is missing: run npm run build`;
    if (a && a.mtimeMs > b.mtimeMs) return `${out} is older than ${src}: run npm run build`;
  }
  return undefined;
}

export function signatureOf(r: TargetResult): string {
  // memory growth is one finding per target, whichever measurement (RSS, ArrayBuffers, heap) saw it
  if (r.kind === "memory") return `${r.target}|memory`;
  const first = (r.detail ?? "").split("\n")[0] ?? "";
  const norm = first
    .replace(/0x[0-9a-f]+/gi, "N")
    .replace(/\d+/g, "N")
    .replace(/"[^"]*"/g, "S")
    .slice(0, 160);
  return `${r.target}|${r.kind}|${norm}`;
}

function describeCase(seeds: Seed[], c: FuzzCase): { seedFile: string; mutations: string[] } {
  const replaced = c.mutations.some((m) => m.edits.some((e) => e.op === "replace"));
  return {
    seedFile: replaced ? "(random file)" : (seeds[c.seed]?.name ?? "?"),
    mutations: c.mutations.map((m) => m.label),
  };
}

function emptyStats(): TargetStats {
  return { cases: 0, ok: 0, typed: 0, fail: 0, ms: 0, codes: {} };
}

export async function prepareSeeds(seeds: Seed[]): Promise<SeedMap[]> {
  return Promise.all(seeds.map((s) => mapSeed(s.bytes, s.offset)));
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignReport> {
  const log = opts.log ?? (() => undefined);
  const started = performance.now();
  const targets: readonly string[] = opts.targets ?? ALL_TARGETS;
  const maps = await prepareSeeds(opts.seeds);
  const shared = opts.seeds.map((s) => {
    const sab = new SharedArrayBuffer(s.bytes.length);
    new Uint8Array(sab).set(s.bytes);
    return sab;
  });
  const runner = new CaseRunner(opts.seeds, shared, {
    targetTimeoutMs: opts.targetTimeoutMs ?? 5000,
    memoryLimitMb: opts.memoryLimitMb ?? 256,
    reuseEvery: opts.reuseEvery ?? 8,
    scratch: opts.scratch,
    targets,
  });
  runner.onRestart = (why) => log(`worker restarted: ${why.split("\n")[0]}`);
  const arb = caseArb(
    opts.seeds.map((s, i) => ({ weight: s.weight, ctx: { bytes: s.bytes, map: maps[i] as SeedMap } })),
  );
  // The quick targets (reader, oracle) see every case; the slower ones (extract, inspect, the CLI) take
  // turns, one per case, unless allTargetsEveryCase asks for all of them on every case.
  const quick: string[] = targets.filter((t) => t === "impl.parse" || t === "oracle.check");
  const slow: string[] = targets.filter((t) => !quick.includes(t));
  const plan = (k: number): string[] =>
    opts.allTargetsEveryCase || slow.length === 0
      ? [...targets]
      : [...quick, slow[k % slow.length] as string];
  const perTarget: Record<string, TargetStats> = {};
  const findings: Finding[] = [];
  const distinct = new Map<string, Finding>();
  // the agreement table only counts seeds both sides accept unmutated (not the precopy stream, not the
  // x-ignore-shared file QEMU 10.0.2 cannot load)
  const oracleAccepts = await Promise.all(
    opts.seeds.map(async (s) => {
      const { findings } = await checkFile(
        memorySource(s.bytes),
        s.offset === undefined ? {} : { offset: s.offset },
      );
      return !findings.some((f) => f.severity === "fail");
    }),
  );
  const agreement: CampaignReport["agreement"] = {
    both: 0,
    readerOnly: { count: 0, examples: [] },
    oracleOnly: { count: 0, examples: [] },
  };
  let index = opts.replay ?? 0;
  // set when fast-check's time limit has ended the run (a case may still be running then)
  let over = false;
  const save = async (name: string, c: FuzzCase): Promise<string | undefined> => {
    if (!opts.findingsDir) return undefined;
    await mkdir(opts.findingsDir, { recursive: true });
    const file = join(opts.findingsDir, name);
    await writeFile(
      file,
      applyEdits(
        opts.seeds[c.seed]?.bytes ?? new Uint8Array(0),
        c.mutations.flatMap((m) => m.edits),
      ),
    );
    return file;
  };
  try {
    const main = await fc.check(
      fc.asyncProperty(arb, async (c) => {
        if (over) return true;
        const k = index++;
        const done = await runner.run(k, c, plan(k));
        if (over) return true;
        for (const r of done.results) {
          const st = perTarget[r.target] ?? emptyStats();
          perTarget[r.target] = st;
          st.cases++;
          st.ms += r.ms;
          if (r.status === "ok") st.ok++;
          else if (r.status === "typed") {
            st.typed++;
            if (r.code) st.codes[r.code] = (st.codes[r.code] ?? 0) + 1;
          } else {
            st.fail++;
            const d = describeCase(opts.seeds, c);
            const f: Finding = {
              caseIndex: k,
              ...d,
              target: r.target,
              kind: r.kind ?? "?",
              detail: r.detail ?? "",
              signature: signatureOf(r),
            };
            findings.push(f);
            if (!distinct.has(f.signature)) {
              const file = await save(`${opts.fcSeed}-${k}-${r.target}.bin`, c);
              if (file) f.file = file;
              distinct.set(f.signature, f);
              log(`finding #${distinct.size}: case ${k} ${r.target} ${f.kind}: ${f.detail.split("\n")[0]}`);
            }
          }
        }
        const parse = done.results.find((r) => r.target === "impl.parse");
        const check = done.results.find((r) => r.target === "oracle.check");
        const replaced = c.mutations.some((m) => m.edits.some((e) => e.op === "replace"));
        if (
          parse &&
          check &&
          parse.status !== "fail" &&
          check.status !== "fail" &&
          !replaced &&
          oracleAccepts[c.seed]
        ) {
          const d = describeCase(opts.seeds, c);
          const text = `case ${k} ${d.seedFile}: ${d.mutations.join("; ")} (reader: ${parse.code ?? "reads it"}, oracle: ${check.code ?? "no fail finding"})`;
          const side =
            parse.status === "ok" && check.status === "typed"
              ? agreement.readerOnly
              : parse.status === "typed" && check.status === "ok"
                ? agreement.oracleOnly
                : undefined;
          if (side === undefined) agreement.both++;
          else {
            side.count++;
            if (side.examples.length < 5) side.examples.push(text);
          }
        }
        if (k > 0 && k % 500 === 0) log(`${k} cases, ${((performance.now() - started) / 1000).toFixed(0)} s`);
        return true;
      }),
      {
        seed: opts.fcSeed,
        numRuns: opts.replay === undefined ? 2 ** 31 - 1 : 1,
        interruptAfterTimeLimit: opts.budgetMs,
        markInterruptAsFailure: false,
        ...(opts.replay === undefined ? {} : { path: String(opts.replay) }),
      },
    );
    over = true;
    // the property never fails: a failed check is the harness itself (worker did not start, dist/ missing)
    if (main.failed) throw main.errorInstance ?? new Error("the campaign stopped without an error");
    // Shrink each distinct finding: replay its case by path and let fast-check look for a smaller one
    // that fails the same way.
    const shrinkMs = opts.shrinkMs ?? 20_000;
    for (const f of distinct.values()) {
      if (shrinkMs <= 0 || opts.replay !== undefined) break;
      const d = await fc.check(
        fc.asyncProperty(arb, async (c) => {
          const done = await runner.run(
            -1,
            c,
            f.target.startsWith("(") || f.target === "scratch" ? plan(f.caseIndex) : [f.target],
          );
          return !done.results.some((r) => r.status === "fail" && signatureOf(r) === f.signature);
        }),
        { seed: opts.fcSeed, path: String(f.caseIndex), interruptAfterTimeLimit: shrinkMs },
      );
      const c = d.counterexample?.[0];
      if (d.failed && c) {
        const file = await save(`${opts.fcSeed}-${f.caseIndex}-${f.target}.shrunk.bin`, c);
        f.shrunk = { ...describeCase(opts.seeds, c), ...(file ? { file } : {}) };
      }
    }
  } finally {
    await runner.close();
  }
  return {
    fcSeed: opts.fcSeed,
    cases: opts.replay === undefined ? index : 1,
    durationMs: performance.now() - started,
    seeds: opts.seeds.map((s) => s.name),
    perTarget,
    findings,
    distinct: [...distinct.values()],
    agreement,
    peakRssGrowthMb: runner.peakRss / MB,
    peakWorkerArrayBuffersMb: runner.peakArrayBuffers / MB,
    restarts: runner.restarts,
  };
}

/**
 * Scratch space for the worker: RAM-backed /dev/shm when it has room (the seeds and their working copies
 * take a few hundred MiB; a container's /dev/shm is often 64 MiB), else the system temp directory.
 */
export async function defaultScratchRoot(): Promise<string> {
  const shm = await statfs("/dev/shm").catch(() => undefined);
  if (shm && shm.bavail * shm.bsize >= 1024 * MB) return "/dev/shm";
  return tmpdir();
}
