// The save entry point for users: a machine profile + RAM image files -> the plan QEMU would follow.
import { stat } from "node:fs/promises";
import { hex } from "./bytes.js";
import { listedCapabilities } from "./configuration.js";
import { TARGET_PAGE_SIZE_N } from "./constants.js";
import { MappedRamError } from "./errors.js";
import { MACHINES, type MachineProfile, vmdescJson } from "./machine.js";
import { FileSource } from "./source.js";
import { type DirtyPage, type SaveBlock, type SavePlan, type SaveResult, saveMappedRam } from "./writer.js";
import type { ZeroPageDetection } from "./zero-page.js";

export interface SaveOptions {
  /** output path */
  path: string;
  /** when `path` is a temp file to be renamed: the name errors give the output (the user's) */
  finalPath?: string;
  /** `file:` offset N (default 0) */
  offset?: bigint;
  /** RAM blocks with their image files, in creation order */
  blocks: Array<{ idstr: string; image: string }>;
  /** machine profile name (default "none") */
  machine?: string;
  /** multifd on with this many channels; absent: multifd off */
  multifdChannels?: number;
  /** empty SECTION_PART records (default 1, what QEMU writes for small stopped VMs) */
  partSections?: number;
  zeroPageDetection?: ZeroPageDetection;
  /** runstate recorded in globalstate (default "prelaunch": a `-S` VM that never ran) */
  runstate?: string;
  /** later rounds of a live save: explicit dirty pages */
  rounds?: DirtyPage[][];
  /**
   * later rounds as snapshots: each entry is one round in which block `idstr` now looks like `image`
   * (pages that differ from its previous contents are re-sent); applied after `rounds`
   */
  snapshotRounds?: Array<{ idstr: string; image: string }>;
  /** bytes of RAM saved so far, of the total (for a progress bar) */
  onProgress?: (done: bigint, total: bigint) => void;
}

export function machineProfile(name: string): MachineProfile {
  const m = MACHINES[name];
  if (!m) {
    throw new MappedRamError("ERR_BAD_ARGUMENT", {
      subject: "machine",
      rule: `must be one of ${Object.keys(MACHINES).join(", ")}`,
      actual: JSON.stringify(name),
    });
  }
  return m;
}

/**
 * QEMU's RAM list is sorted by max_length, largest first, ties in creation order
 * (system/physmem.c: qemu_ram_block_add). Stable sort keeps creation order for ties.
 */
export function ramListOrder<T extends { usedLength: bigint }>(blocks: readonly T[]): T[] {
  return [...blocks].sort((a, b) =>
    a.usedLength === b.usedLength ? 0 : a.usedLength > b.usedLength ? -1 : 1,
  );
}

/** Builds the plan for a stopped VM of `machine` whose RAM blocks are the given image files. */
export async function planSave(opts: SaveOptions, sources: Map<string, FileSource>): Promise<SavePlan> {
  const machine = machineProfile(opts.machine ?? "none");
  const blocks: SaveBlock[] = [];
  for (const b of opts.blocks) {
    const size = (await stat(b.image, { bigint: true })).size;
    if (size === 0n || size % TARGET_PAGE_SIZE_N !== 0n) {
      throw new MappedRamError("ERR_BAD_ARGUMENT", {
        subject: `RAM image "${b.image}"`,
        rule: "size must be a positive multiple of 0x1000",
        actual: hex(size),
      });
    }
    const src = await FileSource.open(b.image);
    sources.set(b.idstr, src);
    blocks.push({ idstr: b.idstr, usedLength: size, image: src });
  }
  for (const r of opts.snapshotRounds ?? []) {
    if (!sources.has(`round:${r.image}`)) sources.set(`round:${r.image}`, await FileSource.open(r.image));
  }
  const configuration = {
    machineName: machine.machineName,
    capabilities: listedCapabilities(new Set(["mapped-ram"])),
  };
  const devices = machine.devices(opts.runstate ?? "prelaunch");
  return {
    offset: opts.offset ?? 0n,
    configuration,
    ramSection: machine.ramSection,
    blocks: ramListOrder(blocks),
    partSections: opts.partSections ?? 1,
    switchoverStart: machine.switchoverStart,
    devices,
    vmdesc: vmdescJson(configuration, devices),
    zeroPageDetection: opts.zeroPageDetection ?? "multifd",
    multifdChannels: opts.multifdChannels ?? null,
    rounds: [
      ...(opts.rounds ?? []),
      ...(opts.snapshotRounds ?? []).map((r) => {
        const src = sources.get(`round:${r.image}`);
        if (!src) throw new Error(`round image ${r.image} was not opened`);
        return [{ block: r.idstr, image: src }];
      }),
    ],
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
}

/** Writes the file QEMU 10.0.2 writes for `migrate file:PATH[,offset=N]` of such a VM. */
export async function writeMigrationFile(opts: SaveOptions): Promise<SaveResult> {
  const sources = new Map<string, FileSource>();
  try {
    const plan = await planSave(opts, sources);
    return await saveMappedRam(opts.path, plan, opts.finalPath);
  } finally {
    for (const s of sources.values()) await s.close();
  }
}
