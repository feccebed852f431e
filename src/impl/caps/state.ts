// The state a QMP session accumulates (migration/migration.c: MigrationState, MigrationIncomingState,
// system/runstate.c), the host assumptions the model makes, and the shape of every answer.
import type { Capability, ModelledParams } from "./names.js";

/** The runstates the model reaches (`query-status`). */
export type Runstate = "prelaunch" | "running" | "inmigrate" | "postmigrate" | "finish-migrate";

/** Outgoing migration status, reduced to what later calls depend on. */
export type OutgoingStatus = "none" | "active" | "completed" | "failed";

export interface IncomingState {
  /** `MigrationIncomingState.state`: `setup` once a migrate-incoming got past the transport checks */
  state: "none" | "setup";
  /** `qmp_migrate_incoming`'s `once`: false after a migrate-incoming succeeded */
  once: boolean;
  /** `mis->transport_data` is set: a socket (tcp, unix, vsock) is listening */
  transportData: boolean;
}

export interface SessionState {
  runstate: Runstate;
  caps: ReadonlySet<Capability>;
  params: Readonly<ModelledParams>;
  outgoing: OutgoingStatus;
  incoming: Readonly<IncomingState>;
  /** false after QEMU aborted */
  alive: boolean;
}

/**
 * What the model assumes about the host and the build; defaults describe Debian's QEMU 10.0.2 on Linux
 * x86_64 with userfaultfd, no KVM dirty ring, no RDMA device, and peers that do not listen.
 */
export interface Environment {
  /** CONFIG_REPLICATION (x-colo can be enabled) */
  replication: boolean;
  /** KVM with `dirty-ring-size` (dirty-limit can be enabled) */
  kvmDirtyRing: boolean;
  /** qemu_has_direct_io() (O_DIRECT at build time) */
  directIo: boolean;
  /** an RDMA device exists */
  rdma: boolean;
  /** largest size ftruncate(2) accepts on the target file system (ext4 with 4 KiB blocks: 16 TiB - 4 KiB) */
  maxFileSize: bigint;
  /** the file system of `file:` targets accepts O_DIRECT */
  oDirect: boolean;
  /** userfaultfd(2) works for QEMU (background-snapshot write tracking, postcopy on the destination) */
  userfaultfd: boolean;
  /** strerror of userfaultfd(2) when it does not work (unverified against QEMU: hosts here have it) */
  userfaultfdError: string;
}

export const DEFAULT_ENVIRONMENT: Readonly<Environment> = {
  replication: true,
  kvmDirtyRing: false,
  directIo: true,
  rdma: false,
  maxFileSize: (16n << 40n) - 4096n,
  oDirect: true,
  userfaultfd: true,
  userfaultfdError: "Operation not permitted",
};

/** The status an accepted `migrate` reaches by itself (`query-migrate`), or `aborted` if QEMU dies. */
export type SettleStatus = "completed" | "failed" | "pre-switchover" | "device" | "aborted";

export interface Settlement {
  status: SettleStatus;
  /** stable id of the settlement rule */
  rule: string;
  /** `error-desc` of a failed migration, or QEMU's last stderr line when it aborts; absent if unknown */
  error?: string;
  quirk?: string;
}

export interface Accepted {
  ok: true;
  /** set when QEMU's behaviour here is a known quirk or bug */
  quirk?: string;
  /** for `migrate`: what the migration does after QEMU accepted it */
  settlement?: Settlement;
}

export interface Rejected {
  ok: false;
  /** QEMU's exact error `desc` */
  error: string;
  /** stable rule id */
  rule: string;
  quirk?: string;
}

export type Outcome = Accepted | Rejected;

/** An input the model does not cover (an unmodelled parameter, socket options); not a QEMU error. */
export class UnsupportedInputError extends Error {
  override readonly name = "UnsupportedInputError";
}
