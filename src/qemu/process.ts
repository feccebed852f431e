// One running qemu-system-x86_64 (like eshost's ConsoleAgent): private temp dir, spawn in its own process
// group, QMP, a hard timeout that kills the group, and a normalised result once it is stopped.
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { execa, type Options } from "execa";
import { probeQemu, type QemuBinary, requireQemu } from "./binary.js";
import { buildQemuArgs, type QemuCommandLineOptions } from "./cmdline.js";
import { QemuError } from "./errors.js";
import type { ExecuteOptions, QmpArgsOf, QmpEvent, QmpExecutor, QmpReturnOf } from "./qapi.js";
import { QmpClient, type QmpEventPredicate, type WaitForEventOptions } from "./qmp.js";
import { type RegisteredQemu, registerQemu, unregisterQemu } from "./registry.js";

export interface QemuStartOptions extends QemuCommandLineOptions {
  /** the QEMU to run: a probed binary or a path; default `requireQemu()` (MRC_QEMU or PATH, >= 9.0) */
  binary?: QemuBinary | string;
  /** hard limit on the life of the process from spawn, in ms; then the group is SIGKILLed (default 60 000) */
  timeoutMs?: number;
  /** time allowed until QMP answers, in ms (default 30 000) */
  startTimeoutMs?: number;
  /**
   * time one QMP connection gets for its greeting and the reply to `qmp_capabilities`, in ms, before a
   * new connection is tried (default 5 000); all attempts together stay within `startTimeoutMs`
   */
  qmpAttemptTimeoutMs?: number;
  /** default QMP reply timeout, in ms (default 30 000) */
  commandTimeoutMs?: number;
  /** how long `stop()` waits after `quit` before SIGKILL, in ms (default 3 000) */
  quitGraceMs?: number;
  /** how much of stderr to keep, in bytes (default 8 192) */
  stderrTailBytes?: number;
}

/** The normalised outcome of one QEMU run. */
export interface QemuRunResult {
  /** exit code, or null when killed by a signal */
  exitCode: number | null;
  /** the terminating signal's name (`SIGSEGV`, `SIGKILL`), or null */
  signal: NodeJS.Signals | null;
  /** from spawn to exit */
  durationMs: number;
  /** every QMP event received */
  events: QmpEvent[];
  /** the last bytes of stderr, for humans */
  stderrTail: string;
  /**
   * Set unless QEMU exited with code 0: `ERR_QEMU_CRASHED` (a signal we did not send), `ERR_QEMU_TIMEOUT`
   * (hard timeout), `ERR_QEMU_KILLED` (ignored `quit`), `ERR_QEMU_EXITED` (non-zero code).
   */
  error?: QemuError;
}

interface ExitStatus {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

type KillReason = "timeout" | "stop" | "registry";

/** How long `stop()` waits for the exit status after SIGKILL. */
const KILL_WAIT_MS = 10_000;

let defaultBinary: Promise<QemuBinary> | undefined;

async function resolveBinary(binary: QemuBinary | string | undefined): Promise<QemuBinary> {
  if (typeof binary === "string") return probeQemu(binary);
  if (binary !== undefined) return binary;
  defaultBinary ??= requireQemu();
  return defaultBinary;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`'s value, or undefined after `ms`; the timer is cleared either way (no lingering handles). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

/**
 * A QEMU process. Start with `QemuProcess.start(options)` (or `withQemu`), talk QMP through `execute` /
 * `waitForEvent` (or `qmp` directly), end with `stop()`, which always reaps the process, removes the temp
 * dir and returns a `QemuRunResult`. Every instance is in the process-wide registry until reaped.
 *
 * File descriptors for `/dev/fdset/N` are passed at start (`options.fds`, QEMU's `-add-fd`): Node cannot
 * send SCM_RIGHTS over a `net.Socket`, so QMP `add-fd` is not offered.
 */
export class QemuProcess implements QmpExecutor, RegisteredQemu {
  readonly binary: QemuBinary;
  readonly pid: number;
  /** the arguments QEMU was started with (without the binary) */
  readonly argv: readonly string[];
  /** private directory: QMP socket, QEMU's cwd (so core files land here too); removed by `stop()` */
  readonly tempDir: string;

  readonly #startedAt: number;
  readonly #exit: Promise<ExitStatus>;
  #exitStatus: ExitStatus | undefined;
  #killReason: KillReason | undefined;
  #stderr: Buffer = Buffer.alloc(0);
  readonly #stderrTailBytes: number;
  readonly #hardTimer: NodeJS.Timeout;
  readonly #timeoutMs: number;
  readonly #quitGraceMs: number;
  #qmp: QmpClient | undefined;
  #stopping: Promise<QemuRunResult> | undefined;

  private constructor(init: {
    binary: QemuBinary;
    pid: number;
    argv: readonly string[];
    tempDir: string;
    exit: Promise<ExitStatus>;
    startedAt: number;
    options: QemuStartOptions;
  }) {
    this.binary = init.binary;
    this.pid = init.pid;
    this.argv = init.argv;
    this.tempDir = init.tempDir;
    this.#startedAt = init.startedAt;
    this.#stderrTailBytes = init.options.stderrTailBytes ?? 8192;
    this.#timeoutMs = init.options.timeoutMs ?? 60_000;
    this.#quitGraceMs = init.options.quitGraceMs ?? 3_000;
    this.#exit = init.exit.then((status) => {
      this.#exitStatus = status;
      clearTimeout(this.#hardTimer);
      return status;
    });
    this.#hardTimer = setTimeout(() => {
      if (this.#exitStatus === undefined) this.killGroupSync("timeout");
    }, this.#timeoutMs);
  }

  /** Spawns QEMU (stopped, `-S`) and connects QMP. Throws `ERR_QEMU_START` if QEMU dies or stays silent. */
  static async start(options: QemuStartOptions): Promise<QemuProcess> {
    const binary = await resolveBinary(options.binary);
    // Made synchronously, and registered below before any await: a SIGINT cannot land between the two
    // (an async mkdir could still be in flight when the signal handler exits, leaving the dir behind).
    const temp = { path: mkdtempSync(join(tmpdir(), `mrc-qemu-${process.pid}-`)) };
    const socketPath = join(temp.path, "qmp.sock");
    const argv = buildQemuArgs(options, socketPath);
    // Each passed fd becomes the child's fd 3, 4, ... (Node's spawn: an integer shares that parent fd).
    // execa's types only list 3..9 for extra entries, although it forwards any integer to spawn().
    const stdio = [
      "ignore",
      "ignore",
      "pipe",
      ...(options.fds ?? []).map((f) => f.fd),
    ] as unknown as Options["stdio"];
    const startedAt = performance.now();
    const subprocess = execa(binary.path, argv, {
      cwd: temp.path,
      detached: true,
      cleanup: false,
      reject: false,
      buffer: false,
      stdio,
    });
    const exit = new Promise<ExitStatus>((resolve) => {
      subprocess.once("exit", (code, signal) => resolve({ exitCode: code, signal, at: performance.now() }));
      // Covers spawn failures, where no 'exit' is emitted.
      subprocess.then(
        (result) =>
          resolve({
            exitCode: result.exitCode ?? null,
            signal: result.signal ?? null,
            at: performance.now(),
          }),
        () => resolve({ exitCode: null, signal: null, at: performance.now() }),
      );
    });
    const pid = subprocess.pid;
    if (pid === undefined) {
      const result = await subprocess;
      await rm(temp.path, { recursive: true, force: true });
      throw new QemuError("ERR_QEMU_START", {
        subject: binary.path,
        rule: `spawn failed: ${result.shortMessage}`,
        cause: result.cause,
      });
    }
    const qemu = new QemuProcess({ binary, pid, argv, tempDir: temp.path, exit, startedAt, options });
    registerQemu(qemu);
    subprocess.stderr?.on("data", (chunk: Buffer | string) => qemu.#onStderr(chunk));
    try {
      qemu.#qmp = await qemu.#connect(socketPath, options);
    } catch (error) {
      await qemu.stop();
      throw error;
    }
    return qemu;
  }

  /** The QMP connection (after `start` resolved). */
  get qmp(): QmpClient {
    if (this.#qmp === undefined) {
      throw new QemuError("ERR_QMP_CLOSED", { subject: this.label, rule: "qmp is not connected yet" });
    }
    return this.#qmp;
  }

  /** True once the process has exited (it may not be reaped from the registry yet). */
  get exited(): boolean {
    return this.#exitStatus !== undefined;
  }

  /** Events received so far. */
  get events(): readonly QmpEvent[] {
    return this.#qmp?.events ?? [];
  }

  /** The current stderr tail. */
  get stderrTail(): string {
    return this.#stderr.toString("utf8");
  }

  /** A label for messages: `qemu-system-x86_64 (pid 42)`. */
  get label(): string {
    return `qemu-system-x86_64 (pid ${this.pid})`;
  }

  /**
   * `qmp.execute`, except that when the connection drops because QEMU died, the error says how
   * (`ERR_QEMU_CRASHED` with `signal`, `ERR_QEMU_TIMEOUT`, `ERR_QEMU_EXITED` with `exitCode`).
   */
  async execute<C extends string>(
    command: C,
    args?: QmpArgsOf<C>,
    options?: ExecuteOptions,
  ): Promise<QmpReturnOf<C>> {
    try {
      return await this.qmp.execute(command, args, options);
    } catch (error) {
      throw await this.#explain(error);
    }
  }

  /** `qmp.waitForEvent`, with the same crash reporting as `execute`. */
  async waitForEvent(
    name: string,
    predicate?: QmpEventPredicate,
    timeoutMs?: number,
    options?: WaitForEventOptions,
  ): Promise<QmpEvent> {
    try {
      return await this.qmp.waitForEvent(name, predicate, timeoutMs, options);
    } catch (error) {
      throw await this.#explain(error);
    }
  }

  /** Waits up to `timeoutMs` for the process to exit; undefined if it is still running. */
  async waitForExit(
    timeoutMs: number,
  ): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null } | undefined> {
    const status = await within(this.#exit, timeoutMs);
    return status === undefined ? undefined : { exitCode: status.exitCode, signal: status.signal };
  }

  /** SIGKILLs the whole process group, synchronously. Safe to call at any time. */
  killGroupSync(reason: KillReason): void {
    if (this.#exitStatus === undefined) this.#killReason ??= reason;
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  /**
   * Ends QEMU: `quit` over QMP (if it is alive), up to `quitGraceMs` to exit, then SIGKILL of the group.
   * Always reaps, removes the temp dir and unregisters. Idempotent: later calls return the same result.
   */
  stop(): Promise<QemuRunResult> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<QemuRunResult> {
    const qmp = this.#qmp;
    if (this.#exitStatus === undefined && qmp !== undefined && !qmp.isClosed) {
      try {
        await qmp.execute("quit", undefined, { timeoutMs: this.#quitGraceMs });
      } catch {
        // QEMU may close the socket before replying; the exit status tells what happened.
      }
    }
    // Without a QMP connection (start failed) there is nobody to ask: kill at once.
    if (qmp === undefined && this.#exitStatus === undefined) this.killGroupSync("stop");
    let status = await within(this.#exit, this.#quitGraceMs);
    if (status === undefined) {
      this.killGroupSync("stop");
      status = await within(this.#exit, KILL_WAIT_MS);
    }
    if (status === undefined) {
      // Unkillable (uninterruptible sleep in the kernel): stays registered, so the exit handler retries.
      this.#stopping = undefined;
      qmp?.close();
      return {
        exitCode: null,
        signal: null,
        durationMs: performance.now() - this.#startedAt,
        events: [...(qmp?.events ?? [])],
        stderrTail: this.stderrTail,
        error: new QemuError("ERR_QEMU_KILLED", {
          subject: this.label,
          rule: `still running ${KILL_WAIT_MS} ms after SIGKILL of its process group`,
          stderrTail: this.stderrTail,
        }),
      };
    }
    // Take down anything QEMU left in its group (e.g. an `exec:` migration child).
    this.killGroupSync("stop");
    qmp?.close();
    clearTimeout(this.#hardTimer);
    await rm(this.tempDir, { recursive: true, force: true });
    unregisterQemu(this);
    const result: QemuRunResult = {
      exitCode: status.exitCode,
      signal: status.signal,
      durationMs: status.at - this.#startedAt,
      events: [...(qmp?.events ?? [])],
      stderrTail: this.stderrTail,
    };
    const error = this.#exitError(status);
    if (error !== undefined) result.error = error;
    return result;
  }

  async #connect(socketPath: string, options: QemuStartOptions): Promise<QmpClient> {
    // generous: on a loaded 2-core machine QEMU can take several seconds to open its QMP socket
    const startTimeoutMs = options.startTimeoutMs ?? 30_000;
    const deadline = performance.now() + startTimeoutMs;
    let lastError: unknown;
    while (performance.now() < deadline) {
      if (this.#exitStatus !== undefined) {
        const status = this.#exitStatus;
        const how = status.signal !== null ? `signal ${status.signal}` : `code ${status.exitCode}`;
        throw new QemuError("ERR_QEMU_START", {
          subject: this.label,
          rule: `exited with ${how} before qmp was ready: ${this.stderrTail.trim()}`,
          exitCode: status.exitCode,
          signal: status.signal,
          stderrTail: this.stderrTail,
        });
      }
      try {
        // One connection's greeting or qmp_capabilities reply can fail to come: in CI on a loaded 2-core
        // machine QEMU 10.0.2 once left qmp_capabilities unanswered for the whole 30 s. A new
        // connection costs nothing, so each attempt gets a few seconds of the deadline.
        const attemptMs = options.qmpAttemptTimeoutMs ?? 5_000;
        const connectOptions = {
          timeoutMs: Math.max(1, Math.min(attemptMs, deadline - performance.now())),
          label: this.label,
          ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }),
        };
        return await QmpClient.connect(socketPath, connectOptions);
      } catch (error) {
        lastError = error;
        await delay(10);
      }
    }
    throw new QemuError("ERR_QEMU_START", {
      subject: this.label,
      rule: `qmp not ready within ${startTimeoutMs} ms`,
      timeoutMs: startTimeoutMs,
      stderrTail: this.stderrTail,
      cause: lastError,
    });
  }

  #onStderr(chunk: Buffer | string): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    const joined = Buffer.concat([this.#stderr, bytes]);
    this.#stderr =
      joined.length > this.#stderrTailBytes ? joined.subarray(joined.length - this.#stderrTailBytes) : joined;
  }

  #exitError(status: ExitStatus, cause?: unknown): QemuError | undefined {
    const base = {
      subject: this.label,
      exitCode: status.exitCode,
      signal: status.signal,
      stderrTail: this.stderrTail,
      cause,
    };
    if (this.#killReason === "timeout") {
      return new QemuError("ERR_QEMU_TIMEOUT", {
        ...base,
        rule: `hard timeout of ${this.#timeoutMs} ms expired; process group killed`,
        timeoutMs: this.#timeoutMs,
      });
    }
    if (status.signal !== null && this.#killReason === undefined) {
      return new QemuError("ERR_QEMU_CRASHED", {
        ...base,
        rule: `crashed: exited by signal ${status.signal}`,
      });
    }
    if (status.signal !== null) {
      return new QemuError("ERR_QEMU_KILLED", {
        ...base,
        rule: `did not exit within ${this.#quitGraceMs} ms of quit; killed with ${status.signal}`,
      });
    }
    if (status.exitCode !== 0) {
      return new QemuError("ERR_QEMU_EXITED", { ...base, rule: `exited with code ${status.exitCode}` });
    }
    return undefined;
  }

  /** Turns "qmp closed" into "qemu crashed/exited/timed out" once the exit status is known. */
  async #explain(error: unknown): Promise<unknown> {
    if (!(error instanceof QemuError) || error.code !== "ERR_QMP_CLOSED") return error;
    const status = await within(this.#exit, 2_000);
    if (status === undefined) return error;
    return (
      this.#exitError(status, error) ??
      new QemuError("ERR_QEMU_EXITED", {
        subject: this.label,
        rule: "exited with code 0 while qmp was in use",
        exitCode: status.exitCode,
        signal: status.signal,
        stderrTail: this.stderrTail,
        cause: error,
      })
    );
  }
}

/** The result of `withQemu`: what `fn` returned and how QEMU ended. */
export interface WithQemuResult<T> {
  value: T;
  run: QemuRunResult;
}

/** Starts QEMU, runs `fn`, and stops QEMU in `finally` (also when `fn` throws, which is then rethrown). */
export async function withQemu<T>(
  options: QemuStartOptions,
  fn: (qemu: QemuProcess) => Promise<T>,
): Promise<WithQemuResult<T>> {
  const qemu = await QemuProcess.start(options);
  let value: T;
  try {
    value = await fn(qemu);
  } finally {
    await qemu.stop();
  }
  // stop() is memoised: this returns the result of the call in `finally`.
  return { value, run: await qemu.stop() };
}
