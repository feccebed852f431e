// The work behind `mrc conformance` (registered in ./conformance.ts, which loads this module only when
// the command runs, so other commands do not pay for QEMU's and the runner's imports): run the golden corpus against the reference implementation, the oracle and a QEMU
// (plus the capability cases of src/conformance/caps on that QEMU),
// judge every result, match it against the expectation files and report (human, JSON, JUnit).
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { capsSuite, DEFAULT_CONFORMANCE_SEQUENCES } from "../../conformance/caps/index.js";
import {
  type ExpectationFile,
  formatExpectations,
  matchExpectation,
  updatedExpectations,
} from "../../conformance/expectations.js";
import { idMatcher } from "../../conformance/match.js";
import { humanReport, jsonReport, junitReport, runInfo } from "../../conformance/report.js";
import type { ImplementationKind } from "../../conformance/results.js";
import { exitCodeOf, type QemuUnderTest, type RunOutcome, runConformance } from "../../conformance/runner.js";
import { findQemu, formatVersion, probeQemu, QEMU_EXECUTABLE } from "../../qemu/index.js";
import { UsageError } from "../common.js";
import type { Progress } from "../progress.js";
import { parseSeed, parseSequences } from "./conformance.js";

/**
 * The package root (golden/ and expectations/ live there): the nearest directory above this module with
 * the package's package.json — from src/cli/commands, dist/cli/commands or the bundle's dist/bin.
 */
const PACKAGE_ROOT = packageRoot(dirname(fileURLToPath(import.meta.url)));

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown };
      if (pkg.name === "mapped-ram-conformance") return dir;
    } catch {
      // no package.json here (or not ours): look further up
    }
    if (dirname(dir) === dir) return resolve(from, "../../..");
  }
}

export interface ConformanceFlags {
  qemu?: string | false;
  qemuArg: string[];
  cases?: string;
  implementations?: string;
  expectations?: string;
  updateExpectations?: boolean;
  reportJson?: string;
  junit?: string;
  corpus?: string;
  expectationsDir?: string;
  jobs: number;
  quiet?: boolean;
  /** fast-check capability sequences (default MRC_CAPS_SEQUENCES, else 100) */
  capsSequences?: number;
  /** their seed (default MRC_CAPS_SEED, else the suite's fixed seed) */
  capsSeed?: number;
}

const IMPLEMENTATIONS: readonly ImplementationKind[] = ["reference", "oracle", "qemu"];

function parseImplementations(text: string | undefined): Set<ImplementationKind> {
  if (text === undefined) return new Set(IMPLEMENTATIONS);
  const out = new Set<ImplementationKind>();
  for (const name of text.split(",").map((s) => s.trim())) {
    if (!(IMPLEMENTATIONS as readonly string[]).includes(name)) {
      throw new UsageError(`--implementations: "${name}" is not one of ${IMPLEMENTATIONS.join(", ")}`);
    }
    out.add(name as ImplementationKind);
  }
  return out;
}

async function qemuUnderTest(flags: ConformanceFlags): Promise<QemuUnderTest | { missing: string }> {
  if (flags.qemu === false) return { missing: "--no-qemu was given" };
  if (typeof flags.qemu === "string") {
    try {
      return { binary: await probeQemu(resolve(flags.qemu)), extraArgs: flags.qemuArg };
    } catch (e) {
      throw new UsageError(`--qemu ${flags.qemu}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const found = await findQemu();
  if (found === undefined) return { missing: `no ${QEMU_EXECUTABLE} on PATH (give --qemu PATH)` };
  return { binary: found, extraArgs: flags.qemuArg };
}

/** A flag, else the environment variable `name`, else undefined (a bad variable is a usage error). */
function flagOrEnv(
  flag: number | undefined,
  name: string,
  parse: (text: string) => number,
  env: NodeJS.ProcessEnv,
): number | undefined {
  if (flag !== undefined) return flag;
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  try {
    return parse(text);
  } catch (e) {
    throw new UsageError(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function defaultHeader(implementation: string): string[] {
  return [
    `# Expected failures of ${implementation} in \`mrc conformance\` (docs/CONFORMANCE.md).`,
    "# One result id (<case id>:<role>) per line, optionally `# <message prefix>`.",
    "# An unexpected pass, an unexpected failure, a changed message, or a listed result that was skipped",
    "# or did not run fails the run. `mrc conformance --update-expectations` rewrites this file.",
  ];
}

/** Rewrites the expectation files from the run and re-matches the results against them. */
async function rewriteExpectations(outcome: RunOutcome, write: (s: string) => void): Promise<void> {
  for (const source of outcome.expectationFiles) {
    const rs = outcome.results.filter((r) => r.implementation === source.implementation);
    const next: ExpectationFile = updatedExpectations(
      source.expectations,
      rs,
      defaultHeader(source.implementation),
    );
    await writeFile(source.file, formatExpectations(next));
    source.expectations = next;
    write(
      `wrote ${source.file} (${next.entries.size} expected failure${next.entries.size === 1 ? "" : "s"})\n`,
    );
    for (const r of rs) {
      const m = matchExpectation(r.status, r.message, next.entries.get(r.id));
      r.expected = m.expected;
      r.ok = m.ok;
      if (m.expectedMessage === undefined) delete r.expectedMessage;
      else r.expectedMessage = m.expectedMessage;
      if (m.problem === undefined) delete r.problem;
      else r.problem = m.problem;
    }
  }
  outcome.stale.length = 0;
}

export async function runConformanceCommand(
  flags: ConformanceFlags,
  write: (s: string) => void,
  env: NodeJS.ProcessEnv = process.env,
  progress?: Progress,
): Promise<number> {
  const implementations = parseImplementations(flags.implementations);
  const sequences = flagOrEnv(flags.capsSequences, "MRC_CAPS_SEQUENCES", parseSequences, env);
  const seed = flagOrEnv(flags.capsSeed, "MRC_CAPS_SEED", parseSeed, env);
  const caps = capsSuite({
    sequences: sequences ?? DEFAULT_CONFORMANCE_SEQUENCES,
    ...(seed === undefined ? {} : { seed }),
  });
  const corpus = resolve(flags.corpus ?? resolve(PACKAGE_ROOT, "golden"));
  const expectationsDir = resolve(flags.expectationsDir ?? resolve(PACKAGE_ROOT, "expectations"));
  const qemu = implementations.has("qemu")
    ? await qemuUnderTest(flags)
    : { missing: "qemu not among --implementations" };
  if (flags.qemuArg.length > 0 && !("binary" in qemu))
    throw new UsageError("--qemu-arg needs a QEMU under test");
  let planned = 0n;
  let done = 0n;
  const outcome = await runConformance({
    corpusDir: corpus,
    expectationsDir,
    implementations,
    selected: idMatcher(flags.cases),
    qemu,
    ...(flags.expectations === undefined ? {} : { qemuExpectations: resolve(flags.expectations) }),
    jobs: flags.jobs,
    extraSuites: [caps],
    onPlanned: (n) => {
      planned = BigInt(n);
    },
    onResult: (r) => {
      done++;
      if (!flags.quiet && !r.ok) {
        progress?.finish();
        write(`${r.implementation} ${r.id}: ${r.status}${r.message ? ` ${r.message}` : ""}\n`);
      }
      progress?.update(done, planned);
    },
  });
  progress?.finish();
  if (flags.updateExpectations) await rewriteExpectations(outcome, write);
  const info = await runInfo(outcome, {
    version: "0.1.0",
    corpus,
    tmpDir: tmpdir(),
    implementations: [...implementations],
    qemu:
      "binary" in qemu
        ? {
            path: qemu.binary.path,
            version: formatVersion(qemu.binary.version),
            text: qemu.binary.text,
            extraArgs: qemu.extraArgs,
          }
        : qemu,
  });
  if (flags.reportJson !== undefined) await writeFile(flags.reportJson, jsonReport(info, outcome));
  if (flags.junit !== undefined) await writeFile(flags.junit, junitReport(outcome));
  write(humanReport(outcome, info));
  return exitCodeOf(outcome);
}
