// What an accepted migrate does next (query-migrate), with a stopped `-M none` VM and nobody listening at
// tcp:/unix: addresses: migration/socket.c, tls.c, migration.c, runstate.c (QEMU 10.0.2).
import { caps, directIoInEffect, type MigrateContext } from "./migrate-rules.js";
import { hasTls, QUIRKS } from "./rules.js";
import type { SettleStatus } from "./state.js";

export interface SettleRule {
  readonly id: string;
  readonly source: string;
  readonly when: string;
  readonly applies: (c: MigrateContext) => boolean;
  readonly status: SettleStatus;
  /** `error-desc` (or the abort message) as a template; absent when it depends on the host */
  readonly text?: string;
  /** the text for a context; undefined when it depends on the host */
  readonly format?: (c: MigrateContext) => string | undefined;
  readonly quirk?: string;
}

const isUint32 = (text: string) => /^[0-9]+$/.test(text) && BigInt(text) <= 0xffffffffn;
const socket = (c: MigrateContext) => (c.addr.transport === "socket" ? c.addr.socket : undefined);
const returnPath = (c: MigrateContext) => caps(c).has("return-path") || caps(c).has("postcopy-ram");

export const SETTLE_RULES: readonly SettleRule[] = [
  {
    id: "settle.resolve.emptyHost",
    source: "util/qemu-sockets.c: inet_connect_saddr (async connect)",
    when: "tcp: with an empty host (`tcp::PORT`): getaddrinfo finds no address",
    applies: (c) => {
      const s = socket(c);
      return s?.type === "inet" && s.host === "";
    },
    status: "failed",
    text: "address resolution failed for :%s: Name or service not known",
    format: (c) => {
      const s = socket(c);
      return s?.type === "inet"
        ? `address resolution failed for :${s.port}: Name or service not known`
        : undefined;
    },
  },
  {
    id: "settle.connect.inet",
    source: "migration/socket.c: socket_outgoing_migration (async connect)",
    when: "tcp: and nothing listens at the address",
    applies: (c) => socket(c)?.type === "inet",
    status: "failed",
    text: "Failed to connect to '%s:%s': Connection refused",
    format: (c) => {
      const s = socket(c);
      if (s?.type !== "inet" || s.ipv6) return undefined;
      return `Failed to connect to '${s.host}:${s.port}': Connection refused`;
    },
  },
  {
    id: "settle.connect.unix",
    source: "migration/socket.c: socket_outgoing_migration (async connect)",
    when: "unix: and the socket path does not exist",
    applies: (c) => socket(c)?.type === "unix",
    status: "failed",
    text: "Failed to connect to '%s': No such file or directory",
    format: (c) => {
      const s = socket(c);
      return s?.type === "unix" ? `Failed to connect to '${s.path}': No such file or directory` : undefined;
    },
  },
  {
    id: "settle.connect.vsock",
    source: "migration/socket.c: socket_outgoing_migration (async connect)",
    when: "vsock: (a non-numeric cid or port fails to parse; otherwise the error depends on the host)",
    applies: (c) => socket(c)?.type === "vsock",
    status: "failed",
    text: "Failed to parse cid '%s' / Failed to parse port '%s' / (host-dependent)",
    format: (c) => {
      const s = socket(c);
      if (s?.type !== "vsock") return undefined;
      if (!isUint32(s.cid)) return `Failed to parse cid '${s.cid}'`;
      if (!isUint32(s.port)) return `Failed to parse port '${s.port}'`;
      return undefined;
    },
  },
  {
    id: "settle.tls.noCreds",
    source: "migration/tls.c: migration_tls_get_creds",
    when: "tls-creds names an object that does not exist (the model assumes none exists)",
    applies: (c) => hasTls(c.state.params),
    status: "failed",
    text: "No TLS credentials with id '%s'",
    format: (c) => `No TLS credentials with id '${c.state.params["tls-creds"]}'`,
  },
  {
    id: "settle.directIo.unsupported",
    source: "migration/file.c: file_send_channel_create",
    when: "direct-io in effect (mapped-ram + multifd) and the target file system refuses O_DIRECT (text not verified)",
    applies: (c) => directIoInEffect(c) && c.addr.transport === "file" && !c.env.oDirect,
    status: "failed",
  },
  {
    id: "settle.returnPath.paused",
    source: "migration/migration.c: migration_maybe_pause",
    when: "return-path or postcopy-ram with pause-before-switchover (exec: or file:)",
    applies: (c) => returnPath(c) && caps(c).has("pause-before-switchover"),
    status: "pre-switchover",
  },
  {
    id: "settle.returnPath.file",
    source: "migration/migration.c: source_return_path_thread",
    when: "return-path or postcopy-ram over file: (the return path reads a write-only fd)",
    applies: (c) => returnPath(c) && c.addr.transport === "file",
    status: "failed",
    text: "Unable to read from file: Bad file descriptor",
  },
  {
    id: "settle.returnPath.exec",
    source: "migration/migration.c: migration_completion",
    when: "return-path or postcopy-ram over exec: (the command never answers)",
    applies: (c) => returnPath(c) && c.addr.transport === "exec",
    status: "device",
    quirk: QUIRKS.returnPathExec,
  },
  {
    id: "settle.backgroundSnapshot.prelaunch",
    source: "migration/migration.c: bg_migration_thread; system/runstate.c: runstate_set",
    when: "background-snapshot of a VM in prelaunch (started with -S, never run)",
    applies: (c) => caps(c).has("background-snapshot") && c.state.runstate === "prelaunch",
    status: "aborted",
    text: "invalid runstate transition: 'prelaunch' -> 'paused'",
    quirk: QUIRKS.backgroundSnapshotPrelaunch,
  },
  {
    id: "settle.pauseBeforeSwitchover",
    source: "migration/migration.c: migration_maybe_pause",
    when: "pause-before-switchover: waits for migrate-continue",
    applies: (c) => caps(c).has("pause-before-switchover"),
    status: "pre-switchover",
  },
  {
    id: "settle.completed",
    source: "migration/migration.c: migration_iteration_finish",
    when: "otherwise: the stopped VM's RAM is written and the migration completes",
    applies: () => true,
    status: "completed",
  },
];

/** The first rule of `rules` that applies, with its text. */
