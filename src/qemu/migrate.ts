// Migration over QMP (qapi/migration.json: migrate-set-capabilities, migrate-set-parameters, migrate,
// migrate-incoming, query-migrate) and the two file round trips the harness needs: save RAM images to a
// `file:` stream, and load a stream into fresh RAM images.
import { stat, truncate, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { compareVersions } from "./binary.js";
import type { MemoryBackendFile, QemuCommandLineOptions } from "./cmdline.js";
import { QemuError, QmpError } from "./errors.js";
import { QemuProcess, type QemuRunResult, type QemuStartOptions } from "./process.js";
import type { MigrationChannel, MigrationInfo, MigrationStatus, QmpExecutor } from "./qapi.js";
import { tempDirSync } from "./temp-dir.js";

/** Statuses after which `query-migrate` no longer changes by itself. */
export const TERMINAL_MIGRATION_STATUSES: readonly MigrationStatus[] = ["completed", "failed", "cancelled"];

/** Effectively unlimited `max-bandwidth` (bytes/s, 1 PiB/s; exact as a JSON number). */
export const UNLIMITED_BANDWIDTH = 2 ** 50;

/** `file:PATH` or `file:PATH,offset=N`; `offset` is sent as given (a string such as `4k` or `0x1000` too). */
export function fileUri(path: string, offset?: bigint | number | string): string {
  return offset === undefined ? `file:${path}` : `file:${path},offset=${offset}`;
}

/** `migrate-set-capabilities` with `{name: state}`; QEMU checks the whole resulting set. No-op when empty. */
export async function setCapabilities(
  qmp: QmpExecutor,
  capabilities: Readonly<Record<string, boolean>>,
): Promise<void> {
  const list = Object.entries(capabilities).map(([capability, state]) => ({ capability, state }));
  if (list.length === 0) return;
  await qmp.execute("migrate-set-capabilities", { capabilities: list });
}

/** `migrate-set-parameters` with the given members (QAPI names, e.g. `multifd-channels`). No-op when empty. */
export async function setParameters(
  qmp: QmpExecutor,
  parameters: Readonly<Record<string, unknown>>,
): Promise<void> {
  if (Object.keys(parameters).length === 0) return;
  await qmp.execute("migrate-set-parameters", { ...parameters });
}

/** `migrate` to a URI (`file:...`) or a `channels` list; returns once QEMU accepted it (it runs on). */
export async function migrate(qmp: QmpExecutor, target: string | readonly MigrationChannel[]): Promise<void> {
  await qmp.execute("migrate", typeof target === "string" ? { uri: target } : { channels: [...target] });
}

export interface MigrateIncomingOptions {
  /** `exit-on-error` (QEMU >= 9.1; QEMU's default is true). False keeps QEMU alive so `error-desc` can be read. */
  exitOnError?: boolean;
}

/** `migrate-incoming` (QEMU must run with `-incoming defer`). */
export async function migrateIncoming(
  qmp: QmpExecutor,
  target: string | readonly MigrationChannel[],
  options: MigrateIncomingOptions = {},
): Promise<void> {
  await qmp.execute("migrate-incoming", {
    ...(typeof target === "string" ? { uri: target } : { channels: [...target] }),
    ...(options.exitOnError === undefined ? {} : { "exit-on-error": options.exitOnError }),
  });
}

export interface MigrationWaitResult {
  /** `completed`, `failed` or `cancelled` */
  status: MigrationStatus;
  /** QEMU's `error-desc`, verbatim, when it gave one */
  errorDesc?: string;
  /** the last `query-migrate` reply */
  raw: MigrationInfo;
}

/**
 * Polls `query-migrate` (every `pollMs`, default 10) until the status is completed, failed or cancelled.
 * Throws `ERR_MIGRATION_TIMEOUT` after `timeoutMs`; errors of a dead QEMU propagate from `execute`.
 */
export async function waitForMigration(
  qmp: QmpExecutor,
  timeoutMs = 30_000,
  options: { pollMs?: number } = {},
): Promise<MigrationWaitResult> {
  const pollMs = options.pollMs ?? 10;
  const deadline = performance.now() + timeoutMs;
  let last: MigrationInfo = {};
  for (;;) {
    const remaining = deadline - performance.now();
    last = await qmp.execute("query-migrate", undefined, { timeoutMs: Math.max(1_000, remaining) });
    const status = last.status;
    if (status !== undefined && TERMINAL_MIGRATION_STATUSES.includes(status)) {
      const result: MigrationWaitResult = { status, raw: last };
      const desc = last["error-desc"];
      if (typeof desc === "string") result.errorDesc = desc;
      return result;
    }
    if (performance.now() >= deadline) {
      throw new QemuError("ERR_MIGRATION_TIMEOUT", {
        subject: "query-migrate",
        rule: `status still ${JSON.stringify(status ?? "none")} after ${timeoutMs} ms`,
        timeoutMs,
      });
    }
    await sleep(pollMs);
  }
}

/** The QMP step a file migration stopped at. */
export type MigrationStep = "set-capabilities" | "set-parameters" | "migrate" | "migrate-incoming" | "wait";

type VmOptions = Pick<
  QemuCommandLineOptions,
  "machine" | "machineProps" | "memoryBackend" | "memory" | "accel" | "uuid" | "globals" | "fds" | "extraArgs"
> &
  Pick<QemuStartOptions, "binary" | "timeoutMs" | "startTimeoutMs">;

/** Options shared by `qemuSaveFile` and `qemuLoadFile`. */
export interface FileMigrationOptions extends VmOptions {
  /** `{ "mapped-ram": true, multifd: true }`; sent in one `migrate-set-capabilities` */
  capabilities?: Readonly<Record<string, boolean>>;
  /** `{ "multifd-channels": 4 }`; sent in one `migrate-set-parameters`, after the capabilities */
  parameters?: Readonly<Record<string, unknown>>;
  /** the stream file; the URI is `file:<file>[,offset=<offset>]` */
  file?: string;
  offset?: bigint | number | string;
  /** a URI used instead of `file`/`offset`, e.g. `file:/dev/fdset/1,offset=0x1000` */
  uri?: string;
  /** a `channels` list used instead of a URI */
  channels?: readonly MigrationChannel[];
  /** how long to wait for a terminal migration status, in ms (default 30 000) */
  migrationTimeoutMs?: number;
}

/** A RAM image to save: the file's bytes are the guest RAM. */
export interface SaveBackend {
  id: string;
  path: string;
  /** default: the file's size */
  size?: bigint | number;
}

export interface SaveFileOptions extends FileMigrationOptions {
  backends: readonly SaveBackend[];
  /** `max-bandwidth` to set first (merged into the parameters); `false` to leave QEMU's default */
  maxBandwidth?: number | false;
}

/** A RAM image to load into: given `path` is used as is; without one, a zero-filled file is created. */
export interface LoadBackend {
  id: string;
  size: bigint | number;
  path?: string;
}

export interface LoadFileOptions extends FileMigrationOptions {
  backends: readonly LoadBackend[];
}

export interface FileMigrationResult {
  /** the migration completed and QEMU then exited cleanly */
  ok: boolean;
  /** what was passed to migrate / migrate-incoming */
  target: string | readonly MigrationChannel[];
  /** the last `query-migrate` status, if one was read */
  status?: MigrationStatus;
  /** QEMU's exact text: `query-migrate` error-desc, or the desc of the QMP command that failed */
  errorDesc?: string;
  /** the step that threw, and what it threw (a `QmpError` is QEMU refusing; a `QemuError` is QEMU gone) */
  failure?: { step: MigrationStep; error: QmpError | QemuError };
  /** the last `query-migrate` reply */
  info?: MigrationInfo;
  /** how the QEMU process ended */
  run: QemuRunResult;
  /** QEMU's argument vector */
  argv: readonly string[];
}

export interface LoadFileResult extends FileMigrationResult {
  /** the RAM images, now holding the loaded RAM */
  backends: readonly { id: string; path: string; size: bigint }[];
  /** removes the images this helper created (given paths are left alone) */
  cleanup(): Promise<void>;
}

function toSize(value: bigint | number, what: string): number {
  const n = typeof value === "bigint" ? Number(value) : value;
  if (!Number.isSafeInteger(n) || n <= 0 || (typeof value === "bigint" && BigInt(n) !== value)) {
    throw new QemuError("ERR_BAD_ARGUMENT", {
      subject: what,
      rule: `size must be a positive safe integer. Received ${value}`,
    });
  }
  return n;
}

function migrationTarget(options: FileMigrationOptions): string | readonly MigrationChannel[] {
  if (options.channels !== undefined) return options.channels;
  if (options.uri !== undefined) return options.uri;
  if (options.file !== undefined) return fileUri(resolve(options.file), options.offset);
  throw new QemuError("ERR_BAD_ARGUMENT", {
    subject: "file migration",
    rule: "one of file, uri or channels is required",
  });
}

async function runFileMigration(
  role: "save" | "load",
  options: FileMigrationOptions,
  backends: MemoryBackendFile[],
  parameters: Readonly<Record<string, unknown>>,
): Promise<FileMigrationResult> {
  const target = migrationTarget(options);
  // Everything else in `options` is a VM option for QemuProcess.start.
  const {
    capabilities,
    migrationTimeoutMs,
    parameters: _p,
    file: _f,
    offset: _o,
    uri: _u,
    channels: _c,
    ...vm
  } = options;
  const qemu = await QemuProcess.start({ ...vm, memoryBackends: backends, incoming: role === "load" });
  let step: MigrationStep = "set-capabilities";
  const partial: Omit<FileMigrationResult, "ok" | "run" | "target" | "argv"> = {};
  try {
    await setCapabilities(qemu, capabilities ?? {});
    step = "set-parameters";
    await setParameters(qemu, parameters);
    if (role === "save") {
      step = "migrate";
      await migrate(qemu, target);
    } else {
      step = "migrate-incoming";
      // exit-on-error=false (9.1+) keeps QEMU alive after a failed load, so error-desc can be read.
      const hasExitOnError = compareVersions(qemu.binary.version, { major: 9, minor: 1, micro: 0 }) >= 0;
      await migrateIncoming(qemu, target, hasExitOnError ? { exitOnError: false } : {});
    }
    step = "wait";
    const done = await waitForMigration(qemu, migrationTimeoutMs ?? 30_000);
    partial.status = done.status;
    partial.info = done.raw;
    if (done.errorDesc !== undefined) partial.errorDesc = done.errorDesc;
  } catch (error) {
    if (!(error instanceof QmpError || error instanceof QemuError)) {
      await qemu.stop();
      throw error;
    }
    partial.failure = { step, error };
    if (error instanceof QmpError) partial.errorDesc = error.desc;
  }
  const run = await qemu.stop();
  const ok = partial.failure === undefined && partial.status === "completed" && run.error === undefined;
  return { ok, target, ...partial, run, argv: qemu.argv };
}

/**
 * Saves RAM images with QEMU: starts a stopped VM (`-S`) whose RAM blocks are the given image files
 * (`memory-backend-file`, `share=on`), sets capabilities, then parameters (with `max-bandwidth` unlimited
 * unless told otherwise), migrates to `file:<file>[,offset=N]` (or `uri`/`channels`), waits for a terminal
 * status and stops QEMU. QEMU refusing something is a result (`ok: false`, `failure`, `errorDesc`), not an
 * exception; only harness failures (no QEMU, bad options, spawn failure) throw.
 */
export async function qemuSaveFile(options: SaveFileOptions): Promise<FileMigrationResult> {
  const { backends, maxBandwidth, ...rest } = options;
  const memoryBackends: MemoryBackendFile[] = [];
  for (const backend of backends) {
    const memPath = resolve(backend.path);
    const size = backend.size === undefined ? (await stat(memPath)).size : toSize(backend.size, backend.id);
    memoryBackends.push({ id: backend.id, size, memPath });
  }
  const bandwidth = maxBandwidth ?? UNLIMITED_BANDWIDTH;
  const parameters =
    bandwidth === false ? { ...rest.parameters } : { "max-bandwidth": bandwidth, ...rest.parameters };
  return runFileMigration("save", rest, memoryBackends, parameters);
}

/**
 * Loads a stream with QEMU: starts `-incoming defer` with the given RAM images (fresh zero-filled files
 * in a temp dir when no `path` is given), sets capabilities and parameters, runs `migrate-incoming`
 * (`exit-on-error: false`), waits for completed/failed and stops QEMU. The images then hold the loaded
 * RAM; call `cleanup()` when done with them. QEMU opens the stream read-only; it is not modified.
 */
export async function qemuLoadFile(options: LoadFileOptions): Promise<LoadFileResult> {
  const { backends, ...rest } = options;
  let created: { path: string; cleanup(): Promise<void> } | undefined;
  const images: { id: string; path: string; size: bigint }[] = [];
  for (const backend of backends) {
    const size = toSize(backend.size, backend.id);
    let path = backend.path;
    if (path === undefined) {
      created ??= tempDirSync("mrc-ram-");
      path = join(created.path, `${backend.id.replaceAll("/", "_")}.img`);
      await writeFile(path, new Uint8Array(0));
      await truncate(path, size);
    }
    images.push({ id: backend.id, path: resolve(path), size: BigInt(size) });
  }
  const memoryBackends = images.map((image) => ({ id: image.id, size: image.size, memPath: image.path }));
  const cleanup = async () => {
    await created?.cleanup();
  };
  try {
    const result = await runFileMigration("load", rest, memoryBackends, rest.parameters ?? {});
    return { ...result, backends: images, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
