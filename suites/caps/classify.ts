// Pure pass/fail logic, apart from the runners: running a case on the model, comparing per-step results
// with QEMU's, and the expectation-file ratchet (an unexpected pass, failure, changed text or a stale
// entry all fail).
import { type Environment, MigrationSession, type Outcome } from "../../src/impl/caps/index.js";
import type { CapsCase, Step } from "./cases.js";

/** What one QMP call did, in the same shape for QEMU and the model. */
export type StepResult =
  | { ok: true; settlement?: { status: string; error?: string } }
  | { ok: false; error: string };

export interface CaseRun {
  /** one result per call that ran */
  results: StepResult[];
}

export function substitute(step: Step, dir: string): Step {
  if (step.call === "migrate" || step.call === "migrate-incoming") {
    return { ...step, uri: step.uri.replaceAll("{dir}", dir) };
  }
  return step;
}

function toResult(outcome: Outcome): StepResult {
  if (!outcome.ok) return { ok: false, error: outcome.error };
  if (outcome.settlement === undefined) return { ok: true };
  const settlement: { status: string; error?: string } = { status: outcome.settlement.status };
  if (outcome.settlement.error !== undefined) settlement.error = outcome.settlement.error;
  return { ok: true, settlement };
}

/** Runs `step` on `session`. */
export function runModelStep(session: MigrationSession, step: Step): Outcome {
  switch (step.call) {
    case "migrate-set-capabilities":
      return session.setCapabilitiesRaw(step.capabilities);
    case "migrate-set-parameters":
      return session.setParameters(step.params);
    case "migrate":
      return session.migrate(step.uri);
    case "migrate-incoming":
      return session.migrateIncoming(step.uri);
  }
}

/**
 * Runs a whole case on a fresh model session (`dir` replaces `{dir}`; `env` is what the host gives QEMU),
 * with the same stop rules as QEMU.
 */
export function runModelCase(
  c: CapsCase,
  dir: string,
  env: Partial<Environment> = {},
): { run: CaseRun; outcomes: Outcome[]; session: MigrationSession } {
  const session = new MigrationSession({ role: c.role, env });
  const outcomes: Outcome[] = [];
  for (const step of c.steps) {
    const outcome = runModelStep(session, substitute(step, dir));
    outcomes.push(outcome);
    if (shouldStop(c, toResult(outcome), !session.state.alive)) break;
  }
  return { run: { results: outcomes.map(toResult) }, outcomes, session };
}

/** After a call: stop if QEMU is gone, or if the call was refused and the case stops at errors. */
export function shouldStop(c: CapsCase, result: StepResult, dead: boolean): boolean {
  return dead || (!result.ok && c.stopAtFirstError);
}

export function describeResult(r: StepResult | undefined): string {
  if (r === undefined) return "(not run)";
  if (!r.ok) return r.error;
  if (r.settlement === undefined) return "accepted";
  const err = r.settlement.error === undefined ? "" : `: ${r.settlement.error}`;
  return `accepted, then ${r.settlement.status}${err}`;
}

function sameResult(model: StepResult | undefined, qemu: StepResult | undefined): boolean {
  if (model === undefined || qemu === undefined) return model === qemu;
  if (!model.ok || !qemu.ok) return !model.ok && !qemu.ok && model.error === qemu.error;
  const m = model.settlement;
  const q = qemu.settlement;
  if (m === undefined || q === undefined) return m === q;
  // A settlement text the model leaves open (host-dependent) is not compared.
  return m.status === q.status && (m.error === undefined || m.error === q.error);
}

export interface Mismatch {
  step: number;
  call: string;
  model: string;
  qemu: string;
}

/** The first step where QEMU and the model differ, or undefined when they agree on every step. */
export function compareRuns(c: CapsCase, model: CaseRun, qemu: CaseRun): Mismatch | undefined {
  const n = Math.max(model.results.length, qemu.results.length);
  for (let i = 0; i < n; i++) {
    const m = model.results[i];
    const q = qemu.results[i];
    if (!sameResult(m, q)) {
      return { step: i, call: c.steps[i]?.call ?? "?", model: describeResult(m), qemu: describeResult(q) };
    }
  }
  return undefined;
}

/** One entry of an expectation file: a case id, and optionally the prefix QEMU's text must start with. */
export interface Expectation {
  id: string;
  prefix?: string;
  line: number;
}

/** `id` or `id # prefix` per line; blank lines and lines starting with `#` are comments. */
export function parseExpectations(text: string): Expectation[] {
  const out: Expectation[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const hash = line.indexOf(" #");
    const e: Expectation = { id: (hash < 0 ? line : line.slice(0, hash)).trim(), line: i + 1 };
    if (hash >= 0) e.prefix = line.slice(hash + 2).trim();
    out.push(e);
  });
  return out;
}

export type Verdict =
  | { kind: "pass" }
  | { kind: "expected-failure"; mismatch: Mismatch }
  | { kind: "unexpected-failure"; mismatch: Mismatch }
  | { kind: "unexpected-pass"; expectation: Expectation }
  | { kind: "changed-text"; mismatch: Mismatch; expectation: Expectation };

/** The one decision: a case's mismatch (if any) against its expectation entry (if any). */
export function classify(mismatch: Mismatch | undefined, expectation: Expectation | undefined): Verdict {
  if (mismatch === undefined)
    return expectation === undefined ? { kind: "pass" } : { kind: "unexpected-pass", expectation };
  if (expectation === undefined) return { kind: "unexpected-failure", mismatch };
  if (expectation.prefix !== undefined && !mismatch.qemu.startsWith(expectation.prefix)) {
    return { kind: "changed-text", mismatch, expectation };
  }
  return { kind: "expected-failure", mismatch };
}

export function isFailure(v: Verdict): boolean {
  return v.kind !== "pass" && v.kind !== "expected-failure";
}

/** Expectation entries whose case did not run (stale ids or skipped cases): these fail the run too. */
export function staleExpectations(
  expectations: readonly Expectation[],
  ran: ReadonlySet<string>,
): Expectation[] {
  return expectations.filter((e) => !ran.has(e.id));
}

/** One line for a report: `id: step 2 (migrate): model "…" ≠ qemu "…"`. */
export function formatVerdict(id: string, v: Verdict): string {
  switch (v.kind) {
    case "pass":
      return `${id}: pass`;
    case "expected-failure":
    case "unexpected-failure":
    case "changed-text": {
      const m = v.mismatch;
      const what =
        v.kind === "changed-text" ? `changed text (expected prefix "${v.expectation.prefix}")` : v.kind;
      return `${id}: ${what} at step ${m.step} (${m.call}): model "${m.model}" / qemu "${m.qemu}"`;
    }
    case "unexpected-pass":
      return `${id}: unexpected pass (listed at expectation line ${v.expectation.line})`;
  }
}
