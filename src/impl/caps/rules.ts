// The shape of a rule row, QEMU's quirks the model reproduces, and the first-applying-rule lookup. The
// tables are in caps-rules.ts, migrate-rules.ts and settle-rules.ts, in QEMU's order of evaluation (the
// first rule that applies is the error QEMU reports). Texts are QEMU's `desc`, byte for byte.
import type { ModelledParams } from "./names.js";

/** One rule: where QEMU checks it, the condition in words, and the error it reports. */
export interface Rule<C> {
  /** stable dotted id */
  readonly id: string;
  /** the QEMU source place (file: function) */
  readonly source: string;
  /** the condition, in words */
  readonly when: string;
  readonly applies: (c: C) => boolean;
  /** QEMU's exact error text; with `format`, a template (`%s` where QEMU formats a value) */
  readonly text: string;
  /** the text for a context, when it depends on it */
  readonly format?: (c: C) => string;
  readonly quirk?: string;
}

/** Known quirks and bugs of QEMU 10.0.2 that the model reproduces. */
export const QUIRKS = {
  mappedRamParamsCurrent:
    "QEMU 10.0 quirk: migrate_params_check tests mapped-ram against the current multifd-compression and " +
    "tls-creds, not the values being set. The call that sets compression or TLS is accepted; every later " +
    "migrate-set-parameters (even one that clears them, or an unrelated one) is refused until mapped-ram is " +
    "turned off, and migrate then fails with 'Cannot use compression/TLS with mapped-ram'.",
  incomingPoisoned:
    "QEMU 10.0 quirk: a migrate-incoming that fails while starting its transport leaves the incoming " +
    "state at 'setup'; every later migrate-incoming fails with 'Illegal migration incoming state: setup'.",
  backgroundSnapshotPrelaunch:
    "QEMU 10.0.2 bug: background-snapshot of a VM that never ran (-S, prelaunch) aborts QEMU on an " +
    "invalid runstate transition.",
  returnPathExec:
    "QEMU 10.0 behaviour: with return-path or postcopy-ram over exec:, the source waits forever for the " +
    "return path in state 'device'; migrate_cancel leaves it in 'cancelling'.",
  uint64Wraps:
    "QEMU 10.0 quirk: the QMP input visitor accepts a negative integer for an unsigned parameter and " +
    "wraps it modulo 2^64.",
} as const;

/** `migrate_tls()`: tls-creds set and not empty. */
export const hasTls = (p: Readonly<ModelledParams>): boolean => p["tls-creds"] !== "";
/** `migrate_multifd_compression()` other than none. */
export const compressed = (p: Readonly<ModelledParams>): boolean => p["multifd-compression"] !== "none";

export const MIGRATION_ACTIVE = "There's a migration process in progress";

export function firstApplying<C>(
  rules: readonly Rule<C>[],
  c: C,
): { rule: Rule<C>; text: string } | undefined {
  for (const rule of rules) if (rule.applies(c)) return { rule, text: rule.format?.(c) ?? rule.text };
  return undefined;
}
