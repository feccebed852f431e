// qapi/migration.json (QEMU 10.0): MigrationCapability, MigrateSetParameters and their enums, as data.

/** `MigrationCapability` in QEMU 10.0's enum order (the order of `query-migrate-capabilities`). */
export const CAPABILITIES = [
  "xbzrle",
  "rdma-pin-all",
  "auto-converge",
  "zero-blocks",
  "events",
  "postcopy-ram",
  "x-colo",
  "release-ram",
  "return-path",
  "pause-before-switchover",
  "multifd",
  "dirty-bitmaps",
  "postcopy-blocktime",
  "late-block-activate",
  "x-ignore-shared",
  "validate-uuid",
  "background-snapshot",
  "zero-copy-send",
  "postcopy-preempt",
  "switchover-ack",
  "dirty-limit",
  "mapped-ram",
] as const;

export type Capability = (typeof CAPABILITIES)[number];

export function isCapability(name: string): name is Capability {
  return (CAPABILITIES as readonly string[]).includes(name);
}

/**
 * `migration/options.c: check_caps_background_snapshot` — the capabilities background-snapshot refuses, in
 * the order QEMU tests them (the first one set is named in the error). mapped-ram is not among them.
 */
export const BACKGROUND_SNAPSHOT_CONFLICTS: readonly Capability[] = [
  "postcopy-ram",
  "dirty-bitmaps",
  "postcopy-blocktime",
  "late-block-activate",
  "return-path",
  "multifd",
  "pause-before-switchover",
  "auto-converge",
  "release-ram",
  "rdma-pin-all",
  "xbzrle",
  "x-colo",
  "validate-uuid",
  "zero-copy-send",
];

/** `MultiFDCompression` values this build accepts (Debian's 10.0.2: qatzip, qpl and uadk are compiled out). */
export const MULTIFD_COMPRESSIONS = ["none", "zlib", "zstd"] as const;
export type MultifdCompression = (typeof MULTIFD_COMPRESSIONS)[number];

/** `ZeroPageDetection`. */
export const ZERO_PAGE_DETECTIONS = ["none", "legacy", "multifd"] as const;
export type ZeroPageDetection = (typeof ZERO_PAGE_DETECTIONS)[number];

/** QAPI type of a parameter, as far as the input visitor's errors go. */
export type ParamType =
  | { kind: "uint8" }
  | { kind: "uint64" }
  | { kind: "bool" }
  | { kind: "str-or-null" }
  | { kind: "enum"; values: readonly string[] };

/** The parameters the model knows, with their QAPI type and QEMU 10.0's default (`migration_properties`). */
export interface ModelledParams {
  "tls-creds": string;
  "max-bandwidth": bigint;
  "multifd-channels": number;
  "multifd-compression": MultifdCompression;
  "multifd-zlib-level": number;
  "multifd-zstd-level": number;
  "zero-page-detection": ZeroPageDetection;
  "direct-io": boolean;
}

export type ModelledParam = keyof ModelledParams;

export const PARAM_TYPES: Readonly<Record<ModelledParam, ParamType>> = {
  "tls-creds": { kind: "str-or-null" },
  "max-bandwidth": { kind: "uint64" },
  "multifd-channels": { kind: "uint8" },
  "multifd-compression": { kind: "enum", values: MULTIFD_COMPRESSIONS },
  "multifd-zlib-level": { kind: "uint8" },
  "multifd-zstd-level": { kind: "uint8" },
  "zero-page-detection": { kind: "enum", values: ZERO_PAGE_DETECTIONS },
  "direct-io": { kind: "bool" },
};

export const DEFAULT_PARAMS: Readonly<ModelledParams> = {
  "tls-creds": "",
  "max-bandwidth": 134217728n,
  "multifd-channels": 2,
  "multifd-compression": "none",
  "multifd-zlib-level": 1,
  "multifd-zstd-level": 1,
  "zero-page-detection": "multifd",
  "direct-io": false,
};

/**
 * Every member of `MigrateSetParameters` in QEMU 10.0, in schema order: the input visitor checks members in
 * this order, whatever the order of the JSON object. The model checks the `ModelledParams` among them and
 * refuses to guess about the others.
 */
export const SET_PARAMETERS_ORDER = [
  "announce-initial",
  "announce-max",
  "announce-rounds",
  "announce-step",
  "throttle-trigger-threshold",
  "cpu-throttle-initial",
  "cpu-throttle-increment",
  "cpu-throttle-tailslow",
  "tls-creds",
  "tls-hostname",
  "tls-authz",
  "max-bandwidth",
  "avail-switchover-bandwidth",
  "downtime-limit",
  "x-checkpoint-delay",
  "multifd-channels",
  "xbzrle-cache-size",
  "max-postcopy-bandwidth",
  "max-cpu-throttle",
  "multifd-compression",
  "multifd-zlib-level",
  "multifd-qatzip-level",
  "multifd-zstd-level",
  "block-bitmap-mapping",
  "x-vcpu-dirty-limit-period",
  "vcpu-dirty-limit",
  "mode",
  "zero-page-detection",
  "direct-io",
] as const;

export function isModelledParam(name: string): name is ModelledParam {
  return Object.hasOwn(PARAM_TYPES, name);
}
