// Pure comparison logic of the capability cases, apart from the QEMU runner: running a case on the model,
// comparing per-call results with QEMU's, and turning the first difference into the observation that
// `classify` (src/conformance/classify.ts) judges. Expectation files are the runner's business.
import { type Environment, MigrationSession, type Outcome } from "../../impl/caps/index.js";
import type { CapsResult } from "../results.js";
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

/** `dir` (a QEMU's private temp dir) written back as `{dir}`, so texts do not depend on the run. */
export function withoutDir(m: Mismatch, dir: string): Mismatch {
  if (dir === "") return m;
  return { ...m, model: m.model.replaceAll(dir, "{dir}"), qemu: m.qemu.replaceAll(dir, "{dir}") };
}

/**
 * One line for a difference: `step 1 (migrate): qemu "…", model "…"`. QEMU's text comes first, so an
 * expectation entry's message prefix can pin it.
 */
export function mismatchMessage(m: Mismatch): string {
  return `step ${m.step} (${m.call}): qemu "${m.qemu}", model "${m.model}"`;
}

/** What `classify` judges for a capability case: no difference passes, the first difference fails. */
export function capsObservation(mismatch: Mismatch | undefined): CapsResult {
  return { kind: "answered", mismatches: mismatch === undefined ? [] : [mismatchMessage(mismatch)] };
}
