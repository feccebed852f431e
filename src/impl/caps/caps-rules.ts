// migration/options.c (QEMU 10.0.2): migrate_caps_check and migrate_params_check as rule tables, in the
// order QEMU evaluates them.
import { BACKGROUND_SNAPSHOT_CONFLICTS, type Capability, type ModelledParams } from "./names.js";
import { compressed, hasTls, MIGRATION_ACTIVE, QUIRKS, type Rule } from "./rules.js";
import type { Environment, SessionState } from "./state.js";

// migrate-set-capabilities

export interface CapsContext {
  old: ReadonlySet<Capability>;
  next: ReadonlySet<Capability>;
  state: SessionState;
  env: Environment;
}

const turnedOn = (c: CapsContext, cap: Capability) => c.next.has(cap) && !c.old.has(cap);

const OPTIONS_CAPS = "migration/options.c: migrate_caps_check";

export const CAPS_RULES: readonly Rule<CapsContext>[] = [
  {
    id: "caps.migrationActive",
    source: "migration/options.c: qmp_migrate_set_capabilities",
    when: "an outgoing migration is running",
    applies: (c) => c.state.outgoing === "active",
    text: MIGRATION_ACTIVE,
  },
  {
    id: "caps.colo.noReplication",
    source: OPTIONS_CAPS,
    when: "x-colo on a build without CONFIG_REPLICATION",
    applies: (c) => c.next.has("x-colo") && !c.env.replication,
    text: "QEMU compiled without replication module can't enable COLO",
  },
  {
    id: "caps.postcopy.unsupportedHost",
    source: `${OPTIONS_CAPS}; migration/postcopy-ram.c: postcopy_ram_supported_by_host`,
    when: "postcopy-ram turned on on a destination (inmigrate) without userfaultfd (text not verified)",
    applies: (c) => turnedOn(c, "postcopy-ram") && c.state.runstate === "inmigrate" && !c.env.userfaultfd,
    text: "Postcopy is not supported: Userfaultfd not available: %s",
    format: (c) => `Postcopy is not supported: Userfaultfd not available: ${c.env.userfaultfdError}`,
  },
  {
    id: "caps.postcopy.ignoreShared",
    source: OPTIONS_CAPS,
    when: "postcopy-ram and x-ignore-shared",
    applies: (c) => c.next.has("postcopy-ram") && c.next.has("x-ignore-shared"),
    text: "Postcopy is not compatible with ignore-shared",
  },
  {
    id: "caps.postcopy.multifd",
    source: OPTIONS_CAPS,
    when: "postcopy-ram and multifd",
    applies: (c) => c.next.has("postcopy-ram") && c.next.has("multifd"),
    text: "Postcopy is not yet compatible with multifd",
  },
  {
    id: "caps.backgroundSnapshot.noWriteTracking",
    source: `${OPTIONS_CAPS}, migrate_query_write_tracking`,
    when: "background-snapshot on a host without userfaultfd write protection",
    applies: (c) => c.next.has("background-snapshot") && !c.env.userfaultfd,
    text: "Background-snapshot is not supported by host kernel",
  },
  {
    id: "caps.backgroundSnapshot.conflict",
    source: `${OPTIONS_CAPS}, check_caps_background_snapshot`,
    when: "background-snapshot with one of its conflicts (the first in QEMU's list is named)",
    applies: (c) =>
      c.next.has("background-snapshot") && BACKGROUND_SNAPSHOT_CONFLICTS.some((x) => c.next.has(x)),
    text: "Background-snapshot is not compatible with %s",
    format: (c) =>
      `Background-snapshot is not compatible with ${BACKGROUND_SNAPSHOT_CONFLICTS.find((x) => c.next.has(x))}`,
  },
  {
    id: "caps.zeroCopy.requirements",
    source: OPTIONS_CAPS,
    when: "zero-copy-send without multifd, or with xbzrle, or with the current compression or TLS",
    applies: (c) =>
      c.next.has("zero-copy-send") &&
      (!c.next.has("multifd") ||
        c.next.has("xbzrle") ||
        compressed(c.state.params) ||
        hasTls(c.state.params)),
    text: "Zero copy only available for non-compressed non-TLS multifd migration",
  },
  {
    id: "caps.postcopyPreempt.requiresPostcopy",
    source: OPTIONS_CAPS,
    when: "postcopy-preempt without postcopy-ram",
    applies: (c) => c.next.has("postcopy-preempt") && !c.next.has("postcopy-ram"),
    text: "Postcopy preempt requires postcopy-ram",
  },
  {
    id: "caps.postcopyPreempt.afterIncoming",
    source: OPTIONS_CAPS,
    when: "postcopy-preempt turned on while a socket migrate-incoming listens",
    applies: (c) => turnedOn(c, "postcopy-preempt") && c.state.incoming.transportData,
    text: "Postcopy preempt must be set before incoming starts",
  },
  {
    id: "caps.multifd.afterIncoming",
    source: OPTIONS_CAPS,
    when: "multifd turned on (off before) while a socket migrate-incoming listens",
    applies: (c) => turnedOn(c, "multifd") && c.state.incoming.transportData,
    text: "Multifd must be set before incoming starts",
  },
  {
    id: "caps.switchoverAck.requiresReturnPath",
    source: OPTIONS_CAPS,
    when: "switchover-ack without return-path",
    applies: (c) => c.next.has("switchover-ack") && !c.next.has("return-path"),
    text: "Capability 'switchover-ack' requires capability 'return-path'",
  },
  {
    id: "caps.dirtyLimit.autoConverge",
    source: OPTIONS_CAPS,
    when: "dirty-limit and auto-converge",
    applies: (c) => c.next.has("dirty-limit") && c.next.has("auto-converge"),
    text: "dirty-limit conflicts with auto-converge either of then available currently",
  },
  {
    id: "caps.dirtyLimit.requiresKvm",
    source: OPTIONS_CAPS,
    when: "dirty-limit without KVM and a dirty ring",
    applies: (c) => c.next.has("dirty-limit") && !c.env.kvmDirtyRing,
    text: "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set",
  },
  {
    id: "caps.multifd.xbzrle",
    source: OPTIONS_CAPS,
    when: "multifd and xbzrle",
    applies: (c) => c.next.has("multifd") && c.next.has("xbzrle"),
    text: "Multifd is not compatible with xbzrle",
  },
  {
    id: "caps.mappedRam.xbzrle",
    source: OPTIONS_CAPS,
    when: "mapped-ram and xbzrle",
    applies: (c) => c.next.has("mapped-ram") && c.next.has("xbzrle"),
    text: "Mapped-ram migration is incompatible with xbzrle",
  },
  {
    id: "caps.mappedRam.postcopy",
    source: OPTIONS_CAPS,
    when: "mapped-ram and postcopy-ram",
    applies: (c) => c.next.has("mapped-ram") && c.next.has("postcopy-ram"),
    text: "Mapped-ram migration is incompatible with postcopy",
  },
];

// migrate-set-parameters (after the QAPI input visitor, see qapi.ts)

export interface ParamsContext {
  /** current values merged with the ones given (migrate_params_test_apply) */
  next: Readonly<ModelledParams>;
  /** the members given in this call */
  given: Readonly<Partial<ModelledParams>>;
  state: SessionState;
  env: Environment;
}

const OPTIONS_PARAMS = "migration/options.c: migrate_params_check";

export const PARAMS_RULES: readonly Rule<ParamsContext>[] = [
  {
    id: "params.multifdChannels.range",
    source: OPTIONS_PARAMS,
    when: "multifd-channels is 0",
    applies: (c) => c.next["multifd-channels"] < 1,
    text: "Parameter 'multifd_channels' expects a value between 1 and 255",
  },
  {
    id: "params.multifdZlibLevel.range",
    source: OPTIONS_PARAMS,
    when: "multifd-zlib-level above 9",
    applies: (c) => c.next["multifd-zlib-level"] > 9,
    text: "Parameter 'multifd_zlib_level' expects a value between 0 and 9",
  },
  {
    id: "params.multifdZstdLevel.range",
    source: OPTIONS_PARAMS,
    when: "multifd-zstd-level above 20",
    applies: (c) => c.next["multifd-zstd-level"] > 20,
    text: "Parameter 'multifd_zstd_level' expects a value between 0 and 20",
  },
  {
    id: "params.zeroCopy.compressionOrTls",
    source: OPTIONS_PARAMS,
    when: "zero-copy-send is on and the resulting compression or TLS is set",
    applies: (c) => c.state.caps.has("zero-copy-send") && (compressed(c.next) || hasTls(c.next)),
    text: "Zero copy only available for non-compressed non-TLS multifd migration",
  },
  {
    id: "params.mappedRam.compressionOrTls",
    source: OPTIONS_PARAMS,
    when: "mapped-ram is on and the CURRENT (not the new) compression or TLS is set",
    applies: (c) => c.state.caps.has("mapped-ram") && (compressed(c.state.params) || hasTls(c.state.params)),
    text: "Mapped-ram only available for non-compressed non-TLS multifd migration",
    quirk: QUIRKS.mappedRamParamsCurrent,
  },
  {
    id: "params.directIo.noBuildSupport",
    source: OPTIONS_PARAMS,
    when: "direct-io set to true on a build without O_DIRECT",
    applies: (c) => c.given["direct-io"] === true && !c.env.directIo,
    text: "No build-time support for direct-io",
  },
];
