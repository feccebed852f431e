// Errors of the QEMU adapter: `QemuError` (ours: process, transport, timeouts) and `QmpError` (QEMU's own
// QMP error reply, docs/interop/qmp-spec.rst "error response", kept byte for byte).

export type QemuErrorCode =
  /** no qemu-system-x86_64 on PATH and MRC_QEMU unset */
  | "ERR_QEMU_NOT_FOUND"
  /** the binary exists but `--version` could not be run or parsed */
  | "ERR_QEMU_BAD_VERSION"
  /** the binary is older than the version a feature needs (mapped-ram: 9.0) */
  | "ERR_QEMU_TOO_OLD"
  /** spawning failed, or QEMU exited / stayed silent before QMP was ready */
  | "ERR_QEMU_START"
  /** the hard timeout of the process expired; the process group was killed */
  | "ERR_QEMU_TIMEOUT"
  /** QEMU died from a signal nobody in this process sent (SIGSEGV, SIGABRT, ...) */
  | "ERR_QEMU_CRASHED"
  /** QEMU exited on its own with a non-zero code, or went away while we were talking to it */
  | "ERR_QEMU_EXITED"
  /** QEMU did not exit after `quit` within the grace period and was killed */
  | "ERR_QEMU_KILLED"
  /** the QMP socket closed while a reply or an event was awaited */
  | "ERR_QMP_CLOSED"
  /** no QMP reply or event within the time allowed */
  | "ERR_QMP_TIMEOUT"
  /** QEMU sent something that is not QMP (bad JSON, reply to an unknown id, no greeting) */
  | "ERR_QMP_PROTOCOL"
  /** `query-migrate` did not reach completed/failed/cancelled in time */
  | "ERR_MIGRATION_TIMEOUT"
  /** the caller's options are not possible (e.g. neither `file` nor `uri`) */
  | "ERR_BAD_ARGUMENT";

export interface QemuErrorInit {
  /** what failed, e.g. `qemu-system-x86_64 (pid 1234)` or `qmp command "migrate"` */
  subject: string;
  /** what went wrong, lowercase, e.g. `exited by signal SIGSEGV` */
  rule: string;
  exitCode?: number | null | undefined;
  signal?: NodeJS.Signals | null | undefined;
  /** the last bytes QEMU wrote to stderr, for humans; never parsed */
  stderrTail?: string | undefined;
  timeoutMs?: number | undefined;
  cause?: unknown;
}

/** Message shape: `cannot run qemu-system-x86_64 (pid 42): exited by signal SIGSEGV`. */
export class QemuError extends Error {
  override readonly name = "QemuError";
  readonly code: QemuErrorCode;
  readonly subject: string;
  readonly exitCode: number | null | undefined;
  readonly signal: NodeJS.Signals | null | undefined;
  readonly stderrTail: string | undefined;
  readonly timeoutMs: number | undefined;

  constructor(code: QemuErrorCode, init: QemuErrorInit) {
    super(`cannot run ${init.subject}: ${init.rule}`, { cause: init.cause });
    this.code = code;
    this.subject = init.subject;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.stderrTail = init.stderrTail;
    this.timeoutMs = init.timeoutMs;
  }
}

/**
 * An error reply from QEMU: `{"error": {"class": ..., "desc": ...}}`. `class` and `desc` are QEMU's exact
 * text (suites compare `desc` byte for byte); the message adds the command name for humans.
 */
export class QmpError extends Error {
  override readonly name = "QmpError";
  /** QEMU's error class, e.g. `GenericError`, `CommandNotFound`, `DeviceNotFound` */
  readonly class: string;
  /** QEMU's human-readable description, verbatim */
  readonly desc: string;
  /** the QMP command that failed */
  readonly command: string;
  /** the arguments it was sent with */
  readonly args: Readonly<Record<string, unknown>> | undefined;

  constructor(command: string, errorClass: string, desc: string, args?: Readonly<Record<string, unknown>>) {
    super(`qmp command "${command}" failed: ${desc} (${errorClass})`);
    this.class = errorClass;
    this.desc = desc;
    this.command = command;
    this.args = args;
  }
}

/** True for an error that QEMU itself reported through QMP (as opposed to a harness/process failure). */
export function isQmpError(error: unknown): error is QmpError {
  return error instanceof QmpError;
}

/** True for a `QemuError`, optionally of one of the given codes. */
export function isQemuError(error: unknown, ...codes: QemuErrorCode[]): error is QemuError {
  return error instanceof QemuError && (codes.length === 0 || codes.includes(error.code));
}
