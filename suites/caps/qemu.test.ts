// The QEMU suite for issue 4: every case runs on the model and on real QEMU 10.0 (a small pool of
// long-lived processes), and must agree call by call, byte for byte — except the entries of
// expectations/qemu-10.0-caps.txt, which must still differ exactly as written there. The cases, the pool
// and the verdicts are those of `mrc conformance` (src/conformance/caps); this suite runs more generated
// sequences (300) and reports per group.
// Knobs: MRC_CAPS_POOL (QEMUs in parallel, default 3), MRC_CAPS_SEED, MRC_CAPS_SEQUENCES (default 300),
// MRC_CAPS_REPORT=path (write every case's per-call results, model and QEMU, as JSON),
// MRC_CAPS_ONLY=id,id,... (run only these cases or id prefixes, e.g. to replay `caps.seq.s777.81` with
// MRC_CAPS_SEED=777; the stale-entry check is then skipped).
import { readFile, writeFile } from "node:fs/promises";
import { beforeAll, expect, it } from "vitest";
import {
  type CapsCase,
  DEFAULT_SEED,
  incomingMatrix,
  outgoingMatrix,
} from "../../src/conformance/caps/cases.js";
import { probeEnvironment } from "../../src/conformance/caps/host.js";
import { PINNED } from "../../src/conformance/caps/pinned.js";
import { CapsQemuPool, type CaseResult } from "../../src/conformance/caps/pool.js";
import { sequenceCases } from "../../src/conformance/caps/sequences.js";
import { observationOf } from "../../src/conformance/caps/suite.js";
import { classify } from "../../src/conformance/classify.js";
import {
  type ExpectationFile,
  matchExpectation,
  parseExpectations,
} from "../../src/conformance/expectations.js";
import { describeQemu, qemu, suiteQemu } from "../helpers/qemu.js";

const EXPECTATIONS = new URL("../../expectations/qemu-10.0-caps.txt", import.meta.url);
const seed = Number(process.env.MRC_CAPS_SEED ?? DEFAULT_SEED);
const sequenceCount = Number(process.env.MRC_CAPS_SEQUENCES ?? 300);
const poolSize = Number(process.env.MRC_CAPS_POOL ?? 3);
const only = process.env.MRC_CAPS_ONLY?.split(",").filter((x) => x !== "");
const selected = (c: CapsCase) =>
  only === undefined || only.some((id) => c.id === id || c.id.startsWith(`${id}.`));

const GROUPS: Readonly<Record<string, () => CapsCase[]>> = {
  "outgoing matrix (256 capability sets × 5 transports × 2 compressions)": outgoingMatrix,
  "incoming matrix (256 capability sets × 5 transports × 2 compressions)": incomingMatrix,
  "pinned sequences": () => [...PINNED],
  [`generated sequences (seed ${seed}, ${sequenceCount})`]: () => sequenceCases(seed, sequenceCount),
};

const is100 = qemu !== undefined && qemu.version.major === 10 && qemu.version.minor === 0;

/** `<id>:caps: <problem>: <message>` for a result that does not match its expectation, else undefined. */
function mismatchLine(r: CaseResult, expectations: ExpectationFile): string | undefined {
  const o = observationOf(r);
  const verdict = classify({ kind: "caps", id: r.id }, o.observation);
  const id = `${r.id}:caps`;
  const entry = expectations.entries.get(id);
  const m = matchExpectation(verdict.status, verdict.message, entry);
  if (m.ok) return undefined;
  const listed =
    entry === undefined
      ? ""
      : ` (listed at line ${entry.line}${m.expectedMessage ? `: ${m.expectedMessage}` : ""})`;
  return `${id}: ${m.problem}${listed}: ${verdict.status} ${verdict.message}`;
}

describeQemu("caps: the model answers like QEMU 10.0", () => {
  const byGroup = new Map<string, CaseResult[]>();
  let expectations: ExpectationFile = { header: [], entries: new Map() };

  beforeAll(async () => {
    if (!is100) return;
    expectations = parseExpectations(await readFile(EXPECTATIONS, "utf8"), "expectations/qemu-10.0-caps.txt");
    const groups = Object.entries(GROUPS).map(([name, make]) => [name, make().filter(selected)] as const);
    const env = await probeEnvironment(suiteQemu());
    const pool = new CapsQemuPool(suiteQemu(), poolSize, env);
    try {
      const all = await pool.run(groups.flatMap(([, cases]) => cases));
      let at = 0;
      for (const [name, cases] of groups) {
        byGroup.set(name, all.slice(at, at + cases.length));
        at += cases.length;
      }
    } finally {
      await pool.close();
    }
    const report = process.env.MRC_CAPS_REPORT;
    if (report !== undefined) await writeFile(report, JSON.stringify([...byGroup.values()].flat(), null, 1));
    const s = pool.stats;
    console.log(
      `caps suite: ${s.cases} cases on ${poolSize} QEMUs in ${(s.wallMs / 1000).toFixed(1)} s ` +
        `(${s.starts} starts, ${s.startRetries} start retries, ${s.resets} QMP resets); sequences: seed ${seed}; host: ${JSON.stringify(env)}`,
    );
  }, 1_800_000);

  for (const name of Object.keys(GROUPS)) {
    it.skipIf(!is100)(name, () => {
      const failures = (byGroup.get(name) ?? [])
        .map((r) => mismatchLine(r, expectations))
        .filter((line) => line !== undefined);
      expect(failures).toEqual([]);
    });
  }

  it.skipIf(!is100 || only !== undefined)("every expectation entry names a case that ran", () => {
    const ran = new Set([...byGroup.values()].flat().map((r) => `${r.id}:caps`));
    const stale = [...expectations.entries.values()].filter((e) => !ran.has(e.id));
    expect(stale.map((e) => `line ${e.line}: ${e.id}`)).toEqual([]);
  });
});
