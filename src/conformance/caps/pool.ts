// Runs capability cases on real QEMUs: a small pool of long-lived `-M none -m 8M` processes, reset over
// QMP between cases and restarted only when the model says QMP cannot reset them (or something went
// wrong). Used by `mrc conformance` (./suite.ts) and by the vitest suite suites/caps/qemu.test.ts.
import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_PARAMS, type Environment, type Outcome, type SettleStatus } from "../../impl/caps/index.js";
import {
  isQemuError,
  isQmpError,
  type MigrationInfo,
  type QemuBinary,
  QemuProcess,
} from "../../qemu/index.js";
import { ALL_CAPS_OFF, type CapsCase, type Step } from "./cases.js";
import {
  type CaseRun,
  compareRuns,
  type Mismatch,
  runModelCase,
  type StepResult,
  shouldStop,
  substitute,
  withoutDir,
} from "./compare.js";

/** How long an accepted migrate may take to reach the status the model predicts. */
const SETTLE_TIMEOUT_MS = 5_000;
/** A predicted non-terminal status must hold this long (QEMU passes through `device` when completing). */
const PENDING_HOLD_MS = 150;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const PENDING = new Set<string>(["pre-switchover", "device"]);

/** The parameters a reset restores: QEMU 10.0's defaults for every parameter the cases touch. */
export const DEFAULT_PARAMS_JSON: Readonly<Record<string, unknown>> = {
  ...DEFAULT_PARAMS,
  "max-bandwidth": Number(DEFAULT_PARAMS["max-bandwidth"]),
};

export interface CaseResult {
  id: string;
  model: CaseRun;
  qemu: CaseRun;
  /** the first difference; the QEMU's temp dir written as `{dir}` */
  mismatch: Mismatch | undefined;
  /** QEMU was restarted after this case (model said so, or it died, or a mismatch) */
  restarted: boolean;
  /** the case on QEMU and the model, reset or restart included */
  durationMs: number;
}

export interface PoolStats {
  cases: number;
  starts: number;
  /** QEMUs that died before QMP was ready and were started again */
  startRetries: number;
  resets: number;
  wallMs: number;
}

type Role = CapsCase["role"];

/**
 * QEMU's last stderr line without the `qemu-system-x86_64: ` prefix (error_report's program name), once
 * QEMU has exited: the exit can be seen before the last bytes of stderr, so wait until the tail is stable.
 */
async function lastStderrLine(qemu: QemuProcess): Promise<string> {
  let tail = qemu.stderrTail;
  for (let i = 0; i < 20; i++) {
    await sleep(25);
    if (qemu.stderrTail === tail) break;
    tail = qemu.stderrTail;
  }
  const lines = tail.trimEnd().split("\n");
  const last = lines[lines.length - 1] ?? "";
  const prefix = `${basename(qemu.binary.path)}: `;
  if (last.startsWith(prefix)) return last.slice(prefix.length);
  // a wrapper script given as the binary: QEMU still prints its own program name
  return last.replace(/^qemu-system-[\w-]+: /, "");
}

async function settle(qemu: QemuProcess, predicted: SettleStatus | undefined): Promise<StepResult> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  let heldSince: number | undefined;
  for (;;) {
    if (qemu.exited)
      return { ok: true, settlement: { status: "aborted", error: await lastStderrLine(qemu) } };
    let info: MigrationInfo;
    try {
      info = await qemu.execute("query-migrate");
    } catch (error) {
      if (!isQemuError(error)) throw error;
      await qemu.waitForExit(2_000);
      return { ok: true, settlement: { status: "aborted", error: await lastStderrLine(qemu) } };
    }
    const status = info.status ?? "none";
    const desc = info["error-desc"];
    const settled = (): StepResult => ({
      ok: true,
      settlement: typeof desc === "string" && status === "failed" ? { status, error: desc } : { status },
    });
    if (TERMINAL.has(status)) return settled();
    if (predicted !== undefined && PENDING.has(predicted) && status === predicted) {
      heldSince ??= performance.now();
      if (performance.now() - heldSince >= PENDING_HOLD_MS) return settled();
    } else {
      heldSince = undefined;
    }
    if (performance.now() > deadline) return settled();
    await sleep(5);
  }
}

/** A command with raw JSON arguments (cases send malformed arguments on purpose). */
function executeRaw(
  qemu: QemuProcess,
  command: string,
  args: Readonly<Record<string, unknown>>,
): Promise<unknown> {
  return qemu.execute<string>(command, args);
}

async function execStep(qemu: QemuProcess, step: Step, predicted: Outcome | undefined): Promise<StepResult> {
  try {
    switch (step.call) {
      case "migrate-set-capabilities":
        await executeRaw(qemu, "migrate-set-capabilities", { capabilities: step.capabilities });
        return { ok: true };
      case "migrate-set-parameters":
        await executeRaw(qemu, "migrate-set-parameters", step.params);
        return { ok: true };
      case "migrate-incoming":
        await qemu.execute("migrate-incoming", { uri: step.uri, "exit-on-error": false });
        return { ok: true };
      case "migrate": {
        await qemu.execute("migrate", { uri: step.uri });
        const status = predicted?.ok === true ? predicted.settlement?.status : undefined;
        return settle(qemu, status);
      }
    }
  } catch (error) {
    if (isQmpError(error)) return { ok: false, error: error.desc };
    // QEMU refuses a migrate synchronously; one that dies while the command runs aborted while migrating
    // (its reply can lose the race against the abort).
    if (step.call === "migrate" && isQemuError(error) && (await qemu.waitForExit(2_000)) !== undefined) {
      return { ok: true, settlement: { status: "aborted", error: await lastStderrLine(qemu) } };
    }
    if (isQemuError(error)) return { ok: false, error: `(qemu gone: ${error.message})` };
    throw error;
  }
}

/** Runs the calls of `c` on `qemu` (the same stop rules as the model). */
async function runOnQemu(qemu: QemuProcess, c: CapsCase, predicted: readonly Outcome[]): Promise<CaseRun> {
  const results: StepResult[] = [];
  for (const [i, step] of c.steps.entries()) {
    const result = await execStep(qemu, substitute(step, qemu.tempDir), predicted[i]);
    results.push(result);
    const dead = qemu.exited || (result.ok && result.settlement?.status === "aborted");
    if (shouldStop(c, result, dead)) break;
  }
  return { results };
}

/** Capabilities off, then default parameters (in that order: mapped-ram off lifts the parameter quirk). */
async function reset(qemu: QemuProcess): Promise<boolean> {
  try {
    await qemu.execute("migrate-set-capabilities", { capabilities: ALL_CAPS_OFF });
    await qemu.execute("migrate-set-parameters", DEFAULT_PARAMS_JSON);
    const caps = await qemu.execute("query-migrate-capabilities");
    const params = await qemu.execute("query-migrate-parameters");
    return (
      caps.every((c) => !c.state) && Object.entries(DEFAULT_PARAMS_JSON).every(([k, v]) => params[k] === v)
    );
  } catch {
    return false;
  }
}

/**
 * A pool of `size` workers, each with at most one QEMU per role. `run` takes every case once, in order of
 * the list, and returns one result per case. `close()` stops every QEMU (call it in `finally`).
 */
export class CapsQemuPool {
  readonly #binary: QemuBinary;
  readonly #size: number;
  readonly #env: Partial<Environment>;
  readonly #extraArgs: readonly string[];
  readonly #live = new Set<QemuProcess>();
  readonly stats: PoolStats = { cases: 0, starts: 0, startRetries: 0, resets: 0, wallMs: 0 };

  /**
   * `env`: what this host gives QEMU (see host.ts), passed to every model session; `extraArgs`: appended
   * to every QEMU command line (`mrc conformance --qemu-arg`)
   */
  constructor(
    binary: QemuBinary,
    size: number,
    env: Partial<Environment> = {},
    extraArgs: readonly string[] = [],
  ) {
    this.#binary = binary;
    this.#size = size;
    this.#env = env;
    this.#extraArgs = extraArgs;
  }

  /** Starts a QEMU for `role`; a QEMU that dies before QMP is ready is retried (twice), not a case result. */
  async #start(role: Role): Promise<QemuProcess> {
    for (let attempt = 1; ; attempt++) {
      let qemu: QemuProcess;
      try {
        qemu = await QemuProcess.start({
          binary: this.#binary,
          machine: "none",
          memory: "8M",
          incoming: role === "destination",
          extraArgs: this.#extraArgs,
          timeoutMs: 3_600_000,
          quitGraceMs: 1_000,
          commandTimeoutMs: 15_000,
        });
      } catch (error) {
        if (!isQemuError(error, "ERR_QEMU_START") || attempt >= 3) throw error;
        this.stats.startRetries++;
        continue;
      }
      this.#live.add(qemu);
      this.stats.starts++;
      if (role === "destination") await writeFile(join(qemu.tempDir, "in.img"), new Uint8Array(0));
      return qemu;
    }
  }

  async #stop(qemu: QemuProcess): Promise<void> {
    this.#live.delete(qemu);
    await qemu.stop();
  }

  async run(cases: readonly CapsCase[], onResult?: (r: CaseResult) => void): Promise<CaseResult[]> {
    const t0 = performance.now();
    const results = new Array<CaseResult>(cases.length);
    let next = 0;
    // The first harness error stops every worker; each stops its QEMUs before the error is rethrown.
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      const slots: Partial<Record<Role, QemuProcess>> = {};
      try {
        for (;;) {
          if (failure !== undefined) return;
          const index = next++;
          const c = cases[index];
          if (c === undefined) return;
          const t0 = performance.now();
          let qemu = slots[c.role];
          if (qemu === undefined) {
            qemu = await this.#start(c.role);
            slots[c.role] = qemu;
          }
          const model = runModelCase(c, qemu.tempDir, this.#env);
          const qemuRun = await runOnQemu(qemu, c, model.outcomes);
          const found = compareRuns(c, model.run, qemuRun);
          const mismatch = found === undefined ? undefined : withoutDir(found, qemu.tempDir);
          let restarted = mismatch !== undefined || model.session.needsRestart || qemu.exited;
          if (!restarted) {
            this.stats.resets++;
            restarted = !(await reset(qemu));
          }
          if (restarted) {
            delete slots[c.role];
            await this.#stop(qemu);
          }
          const result: CaseResult = {
            id: c.id,
            model: model.run,
            qemu: qemuRun,
            mismatch,
            restarted,
            durationMs: Math.round(performance.now() - t0),
          };
          results[index] = result;
          this.stats.cases++;
          onResult?.(result);
        }
      } catch (error) {
        failure ??= { error };
      } finally {
        for (const q of Object.values(slots)) if (q !== undefined) await this.#stop(q);
      }
    };
    await Promise.all(Array.from({ length: this.#size }, worker));
    this.stats.wallMs += performance.now() - t0;
    if (failure !== undefined) throw failure.error;
    return results;
  }

  /** Stops every QEMU this pool started and has not stopped yet. */
  async close(): Promise<void> {
    await Promise.all([...this.#live].map((q) => this.#stop(q)));
  }
}
