// migration/ram.h, migration/ram.c, migration/savevm.c, qapi/migration.json (QEMU 10.0.2): the oracle's own constants.
//
// | constant                 | value      | QEMU name                             |
// |--------------------------|------------|---------------------------------------|
// | file magic               | 0x5145564d | QEMU_VM_FILE_MAGIC ("QEVM")           |
// | file version             | 3          | QEMU_VM_FILE_VERSION                  |
// | header size              | 28         | sizeof(MappedRamHeader), packed       |
// | header version           | 1          | MAPPED_RAM_HDR_VERSION                |
// | page size                | 4096       | TARGET_PAGE_SIZE (x86_64)             |
// | pages_offset alignment   | 0x100000   | MAPPED_RAM_FILE_OFFSET_ALIGNMENT      |
// | ram section version      | 4          | register_savevm_live("ram", 0, 4, ..) |

export const FILE_MAGIC = 0x5145564d;
export const FILE_VERSION = 3;
export const FILE_VERSION_COMPAT = 2;

export const HEADER_SIZE = 28n;
export const HEADER_VERSION = 1;
export const PAGE_SIZE = 4096n;
export const PAGE_BITS = 12;
export const ALIGNMENT = 0x100000n;
/** Bitmap words are host `unsigned long`s: 8 bytes, little endian on x86_64. */
export const BITMAP_WORD_BYTES = 8n;

export const RAM_SECTION_IDSTR = "ram";
export const RAM_SECTION_VERSION = 4;

/** Section record types (`QEMU_VM_*` in migration/savevm.c). */
export const Section = {
  EOF: 0x00,
  START: 0x01,
  PART: 0x02,
  END: 0x03,
  FULL: 0x04,
  SUBSECTION: 0x05,
  VMDESCRIPTION: 0x06,
  CONFIGURATION: 0x07,
  COMMAND: 0x08,
  FOOTER: 0x7e,
} as const;

/** `MIG_CMD_SWITCHOVER_START`, length 0 (new in 10.0). */
export const CMD_SWITCHOVER_START = 0x0b;

/** RAM record flags: the low PAGE_BITS bits of each be64 record (migration/ram.h). */
export const RamFlag = {
  FULL: 0x001,
  ZERO: 0x002,
  MEM_SIZE: 0x004,
  PAGE: 0x008,
  EOS: 0x010,
  CONTINUE: 0x020,
  XBZRLE: 0x040,
  HOOK: 0x080,
  COMPRESS_PAGE: 0x100,
  MULTIFD_FLUSH: 0x200,
} as const;

/** `ram_load_precopy`: flags that make QEMU reject a mapped-ram stream ("Unexpected RAM flags"). */
export const FORBIDDEN_RAM_FLAGS =
  RamFlag.ZERO | RamFlag.PAGE | RamFlag.XBZRLE | RamFlag.HOOK | RamFlag.MULTIFD_FLUSH;

/** `MigrationCapability` in enum order (checked with `query-migrate-capabilities` on 10.0.2). */
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

/** `should_validate_capability`: the only capabilities QEMU lists in `configuration/capabilities`. */
export const VALIDATED_CAPABILITIES: readonly string[] = ["x-ignore-shared", "mapped-ram"];

/** `RunState` names (qapi/run-state.json): `globalstate` must carry one of them. */
export const RUN_STATES: readonly string[] = [
  "debug",
  "inmigrate",
  "internal-error",
  "io-error",
  "paused",
  "postmigrate",
  "prelaunch",
  "finish-migrate",
  "restore-vm",
  "running",
  "save-vm",
  "shutdown",
  "suspended",
  "watchdog",
  "guest-panicked",
  "colo",
];

/** scripts/analyze-migration.py looks for the vmdesc JSON in the last 10 MiB of the file. */
export const VMDESC_SEARCH_WINDOW = 10n * 1024n * 1024n;
/** We parse vmdesc JSON up to this size; larger ones are reported, not read. */
export const VMDESC_MAX_PARSE = 16 * 1024 * 1024;
