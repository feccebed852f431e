// migration/migration.c, file.c, fd.c (QEMU 10.0.2): what migrate and migrate-incoming check, as rule
// tables in the order QEMU evaluates them.
import { compressed, hasTls, MIGRATION_ACTIVE, QUIRKS, type Rule } from "./rules.js";
import type { Environment, SessionState } from "./state.js";
import { allowsExtraFds, isMultiChannel, isSeekable, type MigrationAddress } from "./uri.js";

export interface MigrateContext {
  addr: MigrationAddress;
  state: SessionState;
  env: Environment;
}

export const caps = (c: MigrateContext) => c.state.caps;
/** `migrate_direct_io()`: direct-io only takes effect with mapped-ram and multifd. */
export const directIoInEffect = (c: MigrateContext): boolean =>
  c.state.params["direct-io"] && caps(c).has("mapped-ram") && caps(c).has("multifd");
const COMPAT = "migration/migration.c: migration_channels_and_transport_compatible";

/** Checked by both migrate and migrate-incoming, right after the URI is parsed. */
export const TRANSPORT_RULES: readonly Rule<MigrateContext>[] = [
  {
    id: "transport.seekable",
    source: COMPAT,
    when: "mapped-ram on a transport other than file: (tcp, unix, vsock, fd, exec, rdma)",
    applies: (c) => caps(c).has("mapped-ram") && !isSeekable(c.addr),
    text: "Migration requires seekable transport (e.g. file)",
  },
  {
    id: "transport.multiChannel",
    source: COMPAT,
    when: "multifd or postcopy-preempt on exec:, fd:, rdma:, or file: without mapped-ram",
    applies: (c) =>
      (caps(c).has("multifd") || caps(c).has("postcopy-preempt")) &&
      !isMultiChannel(c.addr, caps(c).has("mapped-ram")),
    text: "Migration requires multi-channel URIs (e.g. tcp)",
  },
  {
    id: "transport.extraFds",
    source: COMPAT,
    when: "direct-io in effect on a transport that cannot reopen (unreachable: mapped-ram needs file: already)",
    applies: (c) => directIoInEffect(c) && !allowsExtraFds(c.addr),
    text: "Migration requires a transport that allows for extra fds (e.g. file)",
  },
];

const PREPARE = "migration/migration.c: migrate_prepare";

export const PREPARE_RULES: readonly Rule<MigrateContext>[] = [
  {
    id: "prepare.migrationActive",
    source: PREPARE,
    when: "an outgoing migration is running",
    applies: (c) => c.state.outgoing === "active",
    text: MIGRATION_ACTIVE,
  },
  {
    id: "prepare.incomingPending",
    source: PREPARE,
    when: "QEMU was started with -incoming (runstate inmigrate)",
    applies: (c) => c.state.runstate === "inmigrate",
    text: "Guest is waiting for an incoming migration",
  },
  {
    id: "prepare.postmigrate",
    source: PREPARE,
    when: "a previous migration completed and the VM was not resumed (runstate postmigrate)",
    applies: (c) => c.state.runstate === "postmigrate",
    text: "Can't migrate the vm that was paused due to previous migration",
  },
  {
    id: "prepare.mappedRam.tls",
    source: PREPARE,
    when: "mapped-ram with tls-creds set",
    applies: (c) => caps(c).has("mapped-ram") && hasTls(c.state.params),
    text: "Cannot use TLS with mapped-ram",
  },
  {
    id: "prepare.mappedRam.compression",
    source: PREPARE,
    when: "mapped-ram with multifd-compression other than none",
    applies: (c) => caps(c).has("mapped-ram") && compressed(c.state.params),
    text: "Cannot use compression with mapped-ram",
  },
];

const fileOffset = (c: MigrateContext) => (c.addr.transport === "file" ? c.addr.offset : 0n);
const truncateText = (c: MigrateContext, why: string) =>
  `failed to truncate migration file to offset ${fileOffset(c).toString(16)}: ${why}`;

/** Synchronous failures while the outgoing transport starts (the migration is then `failed`). */
export const START_RULES: readonly Rule<MigrateContext>[] = [
  {
    id: "start.fd.notFound",
    source: "migration/fd.c: fd_start_outgoing_migration",
    when: "fd:NAME where no fd NAME was passed with getfd (the model assumes none)",
    applies: (c) => c.addr.transport === "socket" && c.addr.socket.type === "fd",
    text: "File descriptor named '%s' has not been found",
    format: (c) => `File descriptor named '${fdName(c)}' has not been found`,
  },
  {
    id: "start.file.offsetNegative",
    source: "migration/file.c: file_start_outgoing_migration",
    when: "file: offset of 2^63 or more (negative off_t for ftruncate)",
    applies: (c) => fileOffset(c) >= 1n << 63n,
    text: "failed to truncate migration file to offset %lx: Invalid argument",
    format: (c) => truncateText(c, "Invalid argument"),
  },
  {
    id: "start.file.offsetTooLarge",
    source: "migration/file.c: file_start_outgoing_migration",
    when: "file: offset above the file system's largest file",
    applies: (c) => fileOffset(c) > c.env.maxFileSize,
    text: "failed to truncate migration file to offset %lx: File too large",
    format: (c) => truncateText(c, "File too large"),
  },
  {
    id: "start.rdma.noDevice",
    source: "migration/rdma.c: rdma_start_outgoing_migration",
    when: "rdma: on a host without an RDMA device",
    applies: (c) => c.addr.transport === "rdma" && !c.env.rdma,
    text: "RDMA ERROR: could not create CM channel",
  },
];

const INCOMING = "migration/migration.c: qmp_migrate_incoming";

/** Checked by migrate-incoming before the URI is parsed. */
export const INCOMING_PRE_RULES: readonly Rule<MigrateContext>[] = [
  {
    id: "incoming.alreadyStarted",
    source: INCOMING,
    when: "a migrate-incoming already succeeded",
    applies: (c) => !c.state.incoming.once,
    text: "The incoming migration has already been started",
  },
  {
    id: "incoming.notIncoming",
    source: INCOMING,
    when: "QEMU was not started with -incoming",
    applies: (c) => c.state.runstate !== "inmigrate",
    text: "'-incoming' was not specified on the command line",
  },
];

/** Checked by migrate-incoming after the transport rules. The `start.` rows leave the state at setup. */
export const INCOMING_POST_RULES: readonly Rule<MigrateContext>[] = [
  {
    id: "incoming.illegalState",
    source: "migration/migration.c: qemu_start_incoming_migration",
    when: "an earlier migrate-incoming failed while starting its transport",
    applies: (c) => c.state.incoming.state !== "none",
    text: "Illegal migration incoming state: %s",
    format: (c) => `Illegal migration incoming state: ${c.state.incoming.state}`,
    quirk: QUIRKS.incomingPoisoned,
  },
  {
    id: "incoming.start.fdNotFound",
    source: "monitor/monitor.c: monitor_fd_param (from fd_start_incoming_migration)",
    when: "fd:NAME, NAME not starting with a digit, no such named fd (the model assumes none)",
    applies: (c) => fdName(c) !== undefined && !/^[0-9]/.test(fdName(c) ?? ""),
    text: "File descriptor named '%s' has not been found",
    format: (c) => `File descriptor named '${fdName(c)}' has not been found`,
    quirk: QUIRKS.incomingPoisoned,
  },
  {
    id: "incoming.start.fdBadNumber",
    source: "monitor/monitor.c: monitor_fd_param (from fd_start_incoming_migration)",
    when: "fd:N where N starts with a digit but is not a whole fd number",
    applies: (c) => /^[0-9]/.test(fdName(c) ?? "") && !isFdNumber(fdName(c) ?? ""),
    text: "Invalid file descriptor number '%s'",
    format: (c) => `Invalid file descriptor number '${fdName(c)}'`,
    quirk: QUIRKS.incomingPoisoned,
  },
];

function fdName(c: MigrateContext): string | undefined {
  return c.addr.transport === "socket" && c.addr.socket.type === "fd" ? c.addr.socket.name : undefined;
}

/** util/cutils.c: qemu_parse_fd — strtol, whole string, 0..INT_MAX. */
function isFdNumber(text: string): boolean {
  const m = /^[ \t\n\v\f\r]*[+-]?([0-9]+)$/.exec(text);
  if (m === null) return false;
  const v = BigInt(text.trim());
  return v >= 0n && v <= 2147483647n;
}
