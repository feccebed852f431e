// The conformance runner: every case against every implementation it can reach (reference reader and
// writer, oracle, and a QEMU as reader, writer and sequence target), each observation judged by
// `classify`, each verdict matched against the implementation's expectation file.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { compareVersions, formatVersion, type QemuBinary, type QemuVersion } from "../qemu/index.js";
import { tempDirSync } from "../qemu/temp-dir.js";
import { oracleCheck } from "./adapters/oracle.js";
import { type QemuTarget, qemuRead, qemuRun, qemuWrite } from "./adapters/qemu.js";
import { referenceRead, referenceWrite, writerRecipe } from "./adapters/reference.js";
import { classify } from "./classify.js";
import { GoldenFiles, loadCorpus } from "./corpus.js";
import {
  type ExpectationFile,
  type ExpectationMatch,
  matchExpectation,
  parseExpectations,
} from "./expectations.js";
import { parseBig } from "./golden/writer-made.js";
import { type Case, type FileCase, isQemuMade, type Requirement } from "./model.js";
import type { ImplementationKind, Observation, Role, Status } from "./results.js";

export interface ConformanceResult {
  /** `<case id>:<role>` — the id expectation files list */
  id: string;
  case: string;
  role: Role;
  /** `reference`, `oracle`, or `qemu-10.0.2` */
  implementation: string;
  kind: ImplementationKind;
  status: Status;
  message: string;
  /** what the expectation file says */
  expected: "pass" | "fail";
  expectedMessage?: string;
  /** the result matches its expectation */
  ok: boolean;
  problem?: ExpectationMatch["problem"];
  durationMs: number;
}

/** A listed id that produced no result although its case was selected. */
export interface StaleEntry {
  implementation: string;
  id: string;
  file: string;
}

/** One observation of a case of an external suite; `classify` judges it like every other. */
export interface ExternalObservation {
  case: string;
  observation: Observation;
  durationMs: number;
}

/**
 * A suite whose cases live outside the golden corpus (the capability cases, `capsSuite` in ./caps). It
 * runs on the QEMU under test; its results belong to implementation `<qemu name>:<suite name>`
 * (`qemu-10.0.2:caps`), which has its own expectation file, and their ids are `<case id>:<role>`.
 */
export interface ExternalSuite {
  /** `caps` */
  name: string;
  /** every case id of this run, in report order; pure (no QEMU) */
  caseIds(): Promise<readonly string[]>;
  /** the suite's expectation file for a QEMU version, e.g. `<dir>/qemu-10.0-caps.txt` */
  expectationFile(expectationsDir: string, v: QemuVersion): string;
  /** why the cases cannot run on this QEMU (every selected case is then skipped with it), or undefined */
  unsupported(binary: QemuBinary): string | undefined;
  /**
   * Runs `cases` (selected ids, in order) on the QEMU with at most `jobs` QEMU processes busy, emitting
   * one observation per case as it is decided. Cases it throws before emitting are reported as errors.
   */
  run(ctx: {
    qemu: QemuTarget;
    cases: readonly string[];
    jobs: number;
    emit: (o: ExternalObservation) => void;
  }): Promise<void>;
}

export interface QemuUnderTest {
  binary: QemuBinary;
  extraArgs: string[];
}

export interface RunnerOptions {
  corpusDir: string;
  expectationsDir: string;
  /** which implementations to run (default all three) */
  implementations?: ReadonlySet<ImplementationKind>;
  /** case filter (default: every case) */
  selected?: (id: string) => boolean;
  /** the QEMU under test, or why there is none */
  qemu: QemuUnderTest | { missing: string };
  /** replaces expectations/qemu-<major>.<minor>.txt */
  qemuExpectations?: string;
  /** parallel tasks (QEMU processes included); default 2 */
  jobs?: number;
  /** suites run on the QEMU under test after the corpus (the capability cases) */
  extraSuites?: readonly ExternalSuite[];
  /** called as each result is decided (progress output) */
  onResult?: (r: ConformanceResult) => void;
  /** once every task is planned: how many results the run will give */
  onPlanned?: (total: number) => void;
}

export interface ExpectationSource {
  implementation: string;
  file: string;
  exists: boolean;
  expectations: ExpectationFile;
}

export interface RunOutcome {
  results: ConformanceResult[];
  stale: StaleEntry[];
  expectationFiles: ExpectationSource[];
  cases: number;
  durationMs: number;
}

const IMPL_ORDER: Record<ImplementationKind, number> = { reference: 0, oracle: 1, qemu: 2 };
const ROLE_ORDER: Record<Role, number> = { read: 0, write: 1, check: 2, run: 3, caps: 4 };

function parseVersion(text: string): QemuVersion {
  const [major, minor, micro] = text.split(".").map(Number);
  return { major: major ?? 0, minor: minor ?? 0, micro: micro ?? 0 };
}

/** The expectation file of a QEMU version: expectations/qemu-<major>.<minor>.txt. */
export function qemuExpectationFile(expectationsDir: string, v: QemuVersion): string {
  return join(expectationsDir, `qemu-${v.major}.${v.minor}.txt`);
}

async function loadExpectations(implementation: string, file: string): Promise<ExpectationSource> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      return { implementation, file, exists: false, expectations: { header: [], entries: new Map() } };
    }
    throw e;
  }
  return { implementation, file, exists: true, expectations: parseExpectations(text, file) };
}

interface Task {
  c: Case;
  role: Role;
  kind: ImplementationKind;
  run(): Promise<Observation>;
}

/** Runs `fn` over `items` with at most `jobs` at a time. */
async function pool<T>(items: readonly T[], jobs: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}

export async function runConformance(opts: RunnerOptions): Promise<RunOutcome> {
  const started = performance.now();
  const impls = opts.implementations ?? new Set<ImplementationKind>(["reference", "oracle", "qemu"]);
  const selected = opts.selected ?? (() => true);
  const cases = (await loadCorpus(opts.corpusDir)).filter((c) => selected(c.id));
  const work = tempDirSync("mrc-conformance-");
  const goldens = new GoldenFiles(opts.corpusDir, work.path);

  const qemu = "binary" in opts.qemu ? opts.qemu : undefined;
  const qemuName = qemu ? `qemu-${formatVersion(qemu.binary.version)}` : "qemu";
  const names: Record<ImplementationKind, string> = {
    reference: "reference",
    oracle: "oracle",
    qemu: qemuName,
  };
  const target: QemuTarget | undefined = qemu
    ? { binary: qemu.binary, extraArgs: qemu.extraArgs }
    : undefined;

  const sources: ExpectationSource[] = [];
  if (impls.has("reference"))
    sources.push(await loadExpectations("reference", join(opts.expectationsDir, "reference.txt")));
  if (impls.has("oracle"))
    sources.push(await loadExpectations("oracle", join(opts.expectationsDir, "oracle.txt")));
  if (impls.has("qemu") && qemu) {
    const file = opts.qemuExpectations ?? qemuExpectationFile(opts.expectationsDir, qemu.binary.version);
    sources.push(await loadExpectations(qemuName, file));
  }
  // External suites: their selected cases, and their own expectation file per QEMU version.
  const externals: { suite: ExternalSuite; implementation: string; ids: readonly string[] }[] = [];
  if (impls.has("qemu")) {
    for (const suite of opts.extraSuites ?? []) {
      const ids = (await suite.caseIds()).filter(selected);
      if (ids.length === 0) continue;
      const implementation = `${qemuName}:${suite.name}`;
      externals.push({ suite, implementation, ids });
      if (qemu) {
        const file = suite.expectationFile(opts.expectationsDir, qemu.binary.version);
        sources.push(await loadExpectations(implementation, file));
      }
    }
  }
  const expectationsOf = new Map(sources.map((s) => [s.implementation, s.expectations]));

  const qemuSkip = (req: Requirement | undefined): string | undefined => {
    if (!qemu) return "missing" in opts.qemu ? opts.qemu.missing : "no QEMU";
    const v = qemu.binary.version;
    if (!qemu.binary.hasMappedRam) return `QEMU ${formatVersion(v)} has no mapped-ram (needs 9.0)`;
    if (req && compareVersions(v, parseVersion(req.version)) < 0)
      return `QEMU ${formatVersion(v)}: ${req.reason}`;
    return undefined;
  };

  const tasks: Task[] = [];
  const skipped = (c: Case, role: Role, kind: ImplementationKind, reason: string): Task => ({
    c,
    role,
    kind,
    run: async () => ({ role, implementation: kind, skip: reason }),
  });
  for (const c of cases) {
    if (c.kind === "sequence") {
      if (!impls.has("qemu")) continue;
      const why = qemuSkip(c.requires?.run);
      tasks.push(
        why !== undefined || !target
          ? skipped(c, "run", "qemu", why ?? "no QEMU")
          : {
              c,
              role: "run",
              kind: "qemu",
              run: async () => ({ role: "run", implementation: "qemu", result: await qemuRun(c, target) }),
            },
      );
      continue;
    }
    const fc: FileCase = c;
    const offset = parseBig(fc.file.offset);
    if (impls.has("reference")) {
      tasks.push({
        c,
        role: "read",
        kind: "reference",
        run: async () => ({
          role: "read",
          implementation: "reference",
          result: await referenceRead(await goldens.path(fc), offset),
        }),
      });
      if (writerRecipe(fc) !== undefined) {
        tasks.push({
          c,
          role: "write",
          kind: "reference",
          run: async () => ({
            role: "write",
            implementation: "reference",
            result: await referenceWrite(fc, await goldens.path(fc)),
          }),
        });
      }
    }
    if (impls.has("oracle")) {
      tasks.push({
        c,
        role: "check",
        kind: "oracle",
        run: async () => ({
          role: "check",
          implementation: "oracle",
          result: await oracleCheck(fc, await goldens.path(fc)),
        }),
      });
    }
    if (impls.has("qemu")) {
      const why = qemuSkip(fc.requires?.read);
      tasks.push(
        why !== undefined || !target
          ? skipped(c, "read", "qemu", why ?? "no QEMU")
          : {
              c,
              role: "read",
              kind: "qemu",
              run: async () => ({
                role: "read",
                implementation: "qemu",
                result: await qemuRead(fc, await goldens.path(fc), target),
              }),
            },
      );
      if (isQemuMade(fc)) {
        const whyW = qemuSkip(fc.requires?.write);
        tasks.push(
          whyW !== undefined || !target
            ? skipped(c, "write", "qemu", whyW ?? "no QEMU")
            : {
                c,
                role: "write",
                kind: "qemu",
                run: async () => ({
                  role: "write",
                  implementation: "qemu",
                  result: await qemuWrite(fc, await goldens.path(fc), target),
                }),
              },
        );
      }
    }
  }

  opts.onPlanned?.(tasks.length + externals.reduce((n, e) => n + e.ids.length, 0));
  const results: ConformanceResult[] = [];
  const record = (r: Omit<ConformanceResult, "expected" | "ok" | "expectedMessage" | "problem">) => {
    const entry = expectationsOf.get(r.implementation)?.entries.get(r.id);
    const m = matchExpectation(r.status, r.message, entry);
    const full: ConformanceResult = {
      ...r,
      expected: m.expected,
      ...(m.expectedMessage === undefined ? {} : { expectedMessage: m.expectedMessage }),
      ok: m.ok,
      ...(m.problem === undefined ? {} : { problem: m.problem }),
    };
    results.push(full);
    opts.onResult?.(full);
  };
  try {
    await pool(tasks, opts.jobs ?? 2, async (t) => {
      const t0 = performance.now();
      let observation: Observation;
      try {
        observation = await t.run();
      } catch (e) {
        // adapters turn failures into results; anything thrown here is a harness bug, reported as such
        const message = e instanceof Error ? e.message : String(e);
        observation =
          t.role === "check"
            ? { role: "check", implementation: t.kind, result: { kind: "error", message } }
            : { role: "run", implementation: t.kind, result: { kind: "error", message } };
      }
      const verdict = classify(t.c, observation);
      record({
        id: `${t.c.id}:${t.role}`,
        case: t.c.id,
        role: t.role,
        implementation: names[t.kind],
        kind: t.kind,
        status: verdict.status,
        message: verdict.message,
        durationMs: Math.round(performance.now() - t0),
      });
    });
    for (const { suite, implementation, ids } of externals) {
      const pending = new Set(ids);
      const recordExternal = (o: ExternalObservation) => {
        if (!pending.delete(o.case)) return; // not selected, or already decided
        const verdict = classify({ kind: "caps", id: o.case }, o.observation);
        const role = o.observation.role;
        record({
          id: `${o.case}:${role}`,
          case: o.case,
          role,
          implementation,
          kind: "qemu",
          status: verdict.status,
          message: verdict.message,
          durationMs: o.durationMs,
        });
      };
      const skipAll = (why: string) => {
        for (const id of ids) {
          recordExternal({
            case: id,
            observation: { role: "caps", implementation: "qemu", skip: why },
            durationMs: 0,
          });
        }
      };
      if (!qemu || !target) {
        skipAll("missing" in opts.qemu ? opts.qemu.missing : "no QEMU");
        continue;
      }
      const why = suite.unsupported(qemu.binary);
      if (why !== undefined) {
        skipAll(why);
        continue;
      }
      try {
        await suite.run({ qemu: target, cases: ids, jobs: opts.jobs ?? 2, emit: recordExternal });
      } catch (e) {
        // a harness error stops the suite: every case it did not decide is reported with it
        const message = `${suite.name}: ${e instanceof Error ? e.message : String(e)}`;
        for (const id of [...pending]) {
          recordExternal({
            case: id,
            observation: { role: "caps", implementation: "qemu", result: { kind: "error", message } },
            durationMs: 0,
          });
        }
      }
      for (const id of [...pending]) {
        recordExternal({
          case: id,
          observation: {
            role: "caps",
            implementation: "qemu",
            result: { kind: "error", message: `${suite.name}: the case gave no result` },
          },
          durationMs: 0,
        });
      }
    }
  } finally {
    await work.cleanup();
  }

  const order = new Map(
    [...cases.map((c) => c.id), ...externals.flatMap((x) => x.ids)].map((id, i) => [id, i]),
  );
  results.sort(
    (a, b) =>
      (order.get(a.case) ?? Number.MAX_SAFE_INTEGER) - (order.get(b.case) ?? Number.MAX_SAFE_INTEGER) ||
      (a.case < b.case ? -1 : a.case > b.case ? 1 : 0) ||
      IMPL_ORDER[a.kind] - IMPL_ORDER[b.kind] ||
      ROLE_ORDER[a.role] - ROLE_ORDER[b.role],
  );

  // Listed ids whose case was selected but that gave no result: the list has gone stale.
  const stale: StaleEntry[] = [];
  for (const s of sources) {
    const seen = new Set(results.filter((r) => r.implementation === s.implementation).map((r) => r.id));
    for (const id of s.expectations.entries.keys()) {
      const caseId = id.slice(0, id.lastIndexOf(":"));
      if (!seen.has(id) && selected(caseId))
        stale.push({ implementation: s.implementation, id, file: s.file });
    }
  }
  return {
    results,
    stale,
    expectationFiles: sources,
    cases: cases.length + externals.reduce((n, x) => n + x.ids.length, 0),
    durationMs: Math.round(performance.now() - started),
  };
}

/** 0 when every result matches its expectation and no listed id went unrun. */
export function exitCodeOf(outcome: RunOutcome): 0 | 1 {
  return outcome.results.every((r) => r.ok) && outcome.stale.length === 0 ? 0 : 1;
}
