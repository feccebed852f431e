// Typed subset of the QMP schema used by the harness: qapi/migration.json, qapi/misc.json,
// qapi/control.json, qapi/run-state.json (QEMU 10.0). Unknown fields stay reachable via index signatures.

/** `{"QMP": {...}}`, the first line QEMU sends (docs/interop/qmp-spec.rst "Server Greeting"). */
export interface QmpGreeting {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string };
    capabilities: string[];
  };
}

/** An asynchronous event, with QEMU's own timestamp. */
export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

/** `MigrationStatus` (qapi/migration.json). */
export type MigrationStatus =
  | "none"
  | "setup"
  | "cancelling"
  | "cancelled"
  | "active"
  | "postcopy-device"
  | "postcopy-active"
  | "postcopy-paused"
  | "postcopy-recover-setup"
  | "postcopy-recover"
  | "completed"
  | "failed"
  | "colo"
  | "pre-switchover"
  | "device"
  | "wait-unplug";

/** `MigrationStats` (the `ram` member of `query-migrate`). */
export interface MigrationStats {
  transferred?: number;
  remaining?: number;
  total?: number;
  duplicate?: number;
  normal?: number;
  "normal-bytes"?: number;
  "dirty-sync-count"?: number;
  [key: string]: unknown;
}

/** `MigrationInfo`, the reply of `query-migrate`. */
export interface MigrationInfo {
  status?: MigrationStatus;
  "error-desc"?: string;
  "total-time"?: number;
  "setup-time"?: number;
  downtime?: number;
  ram?: MigrationStats;
  [key: string]: unknown;
}

/** `MigrationCapabilityStatus` */
export interface MigrationCapabilityStatus {
  capability: string;
  state: boolean;
}

/** `MigrationChannel` (the `channels` form of `migrate` / `migrate-incoming`, since 8.2). */
export interface MigrationChannel {
  "channel-type": "main";
  addr:
    | { transport: "file"; filename: string; offset?: number }
    | { transport: "socket"; type: string; [key: string]: unknown }
    | { transport: "exec"; args: string[] }
    | { transport: "rdma"; host: string; port: string };
}

/** `VersionInfo`, the reply of `query-version`. */
export interface VersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/** `StatusInfo`, the reply of `query-status`. */
export interface StatusInfo {
  running: boolean;
  status: string;
  [key: string]: unknown;
}

/** `FdsetInfo`, an element of the reply of `query-fdsets`. */
export interface FdsetInfo {
  "fdset-id": number;
  fds: { fd: number; opaque?: string }[];
}

type NoArgs = Record<string, never> | undefined;

/** Commands with known argument and return types. Any other command name is accepted with `unknown`. */
export interface QmpCommands {
  qmp_capabilities: { args: { enable?: string[] } | undefined; ret: Record<string, never> };
  "query-version": { args: NoArgs; ret: VersionInfo };
  "query-status": { args: NoArgs; ret: StatusInfo };
  "query-commands": { args: NoArgs; ret: { name: string }[] };
  "query-migrate": { args: NoArgs; ret: MigrationInfo };
  "query-migrate-capabilities": { args: NoArgs; ret: MigrationCapabilityStatus[] };
  "query-migrate-parameters": { args: NoArgs; ret: Record<string, unknown> };
  "query-fdsets": { args: NoArgs; ret: FdsetInfo[] };
  "migrate-set-capabilities": {
    args: { capabilities: MigrationCapabilityStatus[] };
    ret: Record<string, never>;
  };
  "migrate-set-parameters": { args: Record<string, unknown>; ret: Record<string, never> };
  migrate: {
    args: { uri?: string; channels?: MigrationChannel[]; detach?: boolean; resume?: boolean };
    ret: Record<string, never>;
  };
  "migrate-incoming": {
    args: { uri?: string; channels?: MigrationChannel[]; "exit-on-error"?: boolean };
    ret: Record<string, never>;
  };
  migrate_cancel: { args: NoArgs; ret: Record<string, never> };
  "remove-fd": { args: { "fdset-id": number; fd?: number }; ret: Record<string, never> };
  stop: { args: NoArgs; ret: Record<string, never> };
  cont: { args: NoArgs; ret: Record<string, never> };
  quit: { args: NoArgs; ret: Record<string, never> };
  "human-monitor-command": { args: { "command-line": string; "cpu-index"?: number }; ret: string };
}

/** Arguments of a command: typed for known commands, a plain object otherwise. */
export type QmpArgsOf<C extends string> = C extends keyof QmpCommands
  ? QmpCommands[C]["args"]
  : Readonly<Record<string, unknown>> | undefined;

/** Return value of a command: typed for known commands, `unknown` otherwise. */
export type QmpReturnOf<C extends string> = C extends keyof QmpCommands ? QmpCommands[C]["ret"] : unknown;

export interface ExecuteOptions {
  /** reply timeout in ms; default: the client's `commandTimeoutMs` */
  timeoutMs?: number;
}

/** Anything that runs QMP commands: a `QmpClient` or a `QemuProcess`. */
export interface QmpExecutor {
  execute<C extends string>(
    command: C,
    args?: QmpArgsOf<C>,
    options?: ExecuteOptions,
  ): Promise<QmpReturnOf<C>>;
}
