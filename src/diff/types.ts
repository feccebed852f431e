// The documented shape of `mrc diff --json` (docs/CLI.md). Offsets, lengths and byte values are
// `0x` hex strings; page indexes and counts are numbers. Nothing here depends on where a structure
// sits in its file: two saves of the same VM at different `file:` offsets compare equal.

/** One side of the comparison: where its stream was read. Informational, never compared. */
export interface DiffSide {
  file: string;
  /** the `file:` offset the stream was read at */
  offset: string;
  fileSize: string;
  /** end of the last structure (end of the vmdesc, or just past EOF) */
  end: string;
  mappedRam: boolean;
}

/** A scalar or list that differs: `a` and `b` are the two values (null: absent on that side). */
export interface FieldChange {
  field: string;
  a: string | number | boolean | string[] | null;
  b: string | number | boolean | string[] | null;
}

/** Pages `first`..`last` inclusive (page indexes inside the block). */
export interface PageRange {
  first: number;
  last: number;
  count: number;
}

/** A run of pages whose contents differ, with the first differing byte of its first page. */
export interface ContentRange extends PageRange {
  firstDifference: {
    page: number;
    /** byte offset inside the block (page × 4096 + byte in page) */
    offset: string;
    a: string;
    b: string;
  };
}

export interface BlockDiff {
  idstr: string;
  equal: boolean;
  /** used_length, mr->addr (x-ignore-shared), MappedRamHeader version / page_size — not the offsets */
  changes: FieldChange[];
  pages: {
    /** pages compared: the common prefix when used_length differs */
    compared: number;
    /** pages whose contents (clear bit = zeros) differ */
    differing: number;
    ranges: ContentRange[];
    /** more ranges than `maxRanges` were found; `ranges` holds the first ones */
    truncated: boolean;
    /** pages past the other side's used_length, and how many of them are non-zero */
    onlyA?: PageRange & { nonZero: number };
    onlyB?: PageRange & { nonZero: number };
  };
  /** the page bitmap (mapped-ram) or the pages carried with data (ordinary streams) */
  bitmap: {
    presentA: number;
    presentB: number;
    differing: number;
    /** present (bit set) only in A / only in B, over the compared pages */
    onlyA: PageRange[];
    onlyB: PageRange[];
    truncated: boolean;
  };
}

/** A device section (SECTION_FULL) by idstr and instance. */
export interface DeviceRef {
  idstr: string;
  instanceId: number;
}

export interface DeviceDiff extends DeviceRef {
  /** version_id, section_id, payload length */
  changes: FieldChange[];
  /** first differing payload byte (offset inside the payload), absent when the payloads are equal */
  firstDifference?: { offset: string; a: string | null; b: string | null };
  /** decoded fields that differ, for devices the reader knows (timer, globalstate) */
  fields: FieldChange[];
}

export interface CommandInfo {
  command: string;
  data: string;
}

export interface VmdescChange {
  /** JSON path such as `devices[1].fields[0].size` */
  path: string;
  a: string | null;
  b: string | null;
}

export interface DiffReport {
  a: DiffSide;
  b: DiffSide;
  /** true when nothing below differs (notes do not count) */
  equal: boolean;
  /** stream version, mapped-ram on/off */
  stream: FieldChange[];
  configuration: { equal: boolean; changes: FieldChange[] };
  /** identity of the "ram" section (section_id, instance_id, version_id) */
  ramSection: FieldChange[];
  blocks: {
    equal: boolean;
    /** idstrs in RAM-list order */
    a: string[];
    b: string[];
    onlyA: string[];
    onlyB: string[];
    /** the blocks both sides have come in a different order */
    orderDiffers: boolean;
    /** one entry per block both sides have, in A's order */
    compared: BlockDiff[];
  };
  devices: {
    equal: boolean;
    a: DeviceRef[];
    b: DeviceRef[];
    onlyA: DeviceRef[];
    onlyB: DeviceRef[];
    orderDiffers: boolean;
    /** devices both sides have that differ */
    changed: DeviceDiff[];
  };
  /** QEMU_VM_COMMAND records, in order (e.g. SWITCHOVER_START 0x0b) */
  commands: { equal: boolean; a: CommandInfo[]; b: CommandInfo[] };
  vmdesc: {
    equal: boolean;
    a: { length: number } | null;
    b: { length: number } | null;
    changes: VmdescChange[];
    truncated: boolean;
  };
  /** differences that carry no meaning (e.g. how many empty SECTION_PART records timing produced) */
  notes: string[];
}
