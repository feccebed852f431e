// The valid files the mutation campaign starts from: small files from our writer (fixed scenarios that
// cover offsets, several blocks, a 255-byte idstr, live rounds with x-ignore-shared, zero-page-detection
// none), an ordinary precopy stream (page and zero records, MULTIFD_FLUSH), and QEMU 10.0.2's own files
// from the golden corpus (golden/cases/*.json with provenance "qemu", rebuilt from their blobs and checked
// against their sha256). Nothing random: the same seeds every run.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { ByteWriter, concatBytes } from "../../src/impl/bytes.js";
import {
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_PART,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_PAGE,
} from "../../src/impl/constants.js";
import { MACHINE_NONE, vmdescJson } from "../../src/impl/machine.js";
import { MainChannelComposer } from "../../src/impl/multifd/precopy-compose.js";
import { writeSaveScenario } from "../helpers/save-scenario.js";
import { type PageKind, pageBytes, type SaveScenario } from "../helpers/scenario.js";

export interface Seed {
  name: string;
  origin: "writer" | "precopy" | "qemu";
  bytes: Uint8Array;
  /** `--offset` to give the tools (a `file:` offset); absent: let them find the stream */
  offset?: bigint;
  /** relative chance of being picked */
  weight: number;
}

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

const runs = (spec: Array<[PageKind, number]>): PageKind[] =>
  spec.flatMap(([k, n]) => Array.from({ length: n }, () => k));

const Z: PageKind = { kind: "zero" };
const F = (byte: number): PageKind => ({ kind: "fill", byte });
const L = (byte: number): PageKind => ({ kind: "last", byte });

const WRITER_SCENARIOS: Array<{ name: string; s: SaveScenario }> = [
  {
    name: "writer.small",
    s: {
      blocks: [{ idstr: "r", pages: [F(7), Z, L(0xaa), { kind: "first", byte: 3 }, Z] }],
      offset: 0n,
      channels: null,
      zpd: "multifd",
      rounds: [],
      partSections: 1,
      ignoreShared: false,
      mrAddrs: [0n],
    },
  },
  {
    name: "writer.twoBlocks.offset12345",
    s: {
      blocks: [
        {
          idstr: "pc.ram",
          pages: runs([
            [F(0x11), 7],
            [Z, 5],
            [L(1), 30],
            [Z, 20],
            [F(0x22), 8],
          ]),
        },
        { idstr: "/rom@etc/acpi/tables", pages: [F(0x33), Z, F(0x44)] },
      ],
      offset: 12345n,
      channels: 2,
      zpd: "multifd",
      rounds: [],
      partSections: 2,
      ignoreShared: false,
      mrAddrs: [0n, 0n],
    },
  },
  {
    name: "writer.longIdstr",
    s: {
      blocks: [
        { idstr: "b".repeat(255), pages: [F(9)] },
        {
          idstr: "x y@z",
          pages: runs([
            [L(5), 33],
            [Z, 32],
          ]),
        },
      ],
      offset: 0x1000n,
      channels: null,
      zpd: "legacy",
      rounds: [],
      partSections: 0,
      ignoreShared: false,
      mrAddrs: [0n, 0n],
    },
  },
  {
    name: "writer.live.ignoreShared",
    s: {
      blocks: [
        {
          idstr: "r",
          pages: runs([
            [F(1), 10],
            [Z, 3],
            [F(2), 4],
          ]),
        },
        { idstr: "pc.bios", pages: [F(3), F(4)] },
      ],
      offset: 0n,
      channels: 3,
      zpd: "multifd",
      rounds: [
        [
          { block: 0, page: 2, kind: Z },
          { block: 0, page: 11, kind: F(0x55) },
        ],
        [{ block: 1, page: 0, kind: Z }],
      ],
      partSections: 3,
      ignoreShared: true,
      mrAddrs: [0n, 0xfffc0000n],
    },
  },
  {
    name: "writer.zpdNone.offset1fff00",
    s: {
      blocks: [
        {
          idstr: "ram",
          pages: runs([
            [F(0x77), 64],
            [Z, 64],
            [L(2), 1],
          ]),
        },
      ],
      offset: 0x1fff00n,
      channels: 1,
      zpd: "none",
      rounds: [],
      partSections: 1,
      ignoreShared: false,
      mrAddrs: [0n],
    },
  },
];

/** An ordinary (non-mapped-ram) precopy stream: zero records, page records with and without CONTINUE. */
export function precopySeed(): Uint8Array {
  const main = new MainChannelComposer(MACHINE_NONE.ramSection);
  const configuration = { machineName: "none", capabilities: [] };
  const devices = MACHINE_NONE.devices("prelaunch");
  const parts: Uint8Array[] = [];
  main.header(configuration).ramStart([
    { idstr: "pc.ram", usedLength: 8n * 4096n },
    { idstr: "vga.vram", usedLength: 2n * 4096n },
  ]);
  main.multifdFlush().ramEos().ramIterate(QEMU_VM_SECTION_PART);
  main.zeroPage("pc.ram", 0n).zeroPage("pc.ram", 4096n);
  parts.push(main.take());
  // ram_save_page: PAGE records, the first naming its block, the next with CONTINUE
  const w = new ByteWriter();
  w.u64be(4096n | RAM_SAVE_FLAG_PAGE)
    .countedString("vga.vram")
    .bytes(pageBytes(F(0x5a)));
  w.u64be(0n | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE).bytes(pageBytes(L(0xee)));
  w.u64be((3n * 4096n) | RAM_SAVE_FLAG_PAGE)
    .countedString("pc.ram")
    .bytes(pageBytes(F(1)));
  parts.push(w.finish());
  main.zeroPage("pc.ram", 5n * 4096n);
  main.multifdFlush().ramEos().switchoverStart().ramIterate(QEMU_VM_SECTION_END).ramEos();
  for (const d of devices) main.device(d);
  main.eof(vmdescJson(configuration, devices));
  parts.push(main.take());
  return concatBytes(parts);
}

export async function writerSeeds(dir: string): Promise<Seed[]> {
  const out: Seed[] = [];
  for (const { name, s } of WRITER_SCENARIOS) {
    const path = join(dir, `${name}.mig`);
    await writeSaveScenario(path, s);
    out.push({
      name,
      origin: "writer",
      bytes: new Uint8Array(await readFile(path)),
      offset: s.offset,
      weight: 3,
    });
  }
  out.push({ name: "precopy.pagesAndZeros", origin: "precopy", bytes: precopySeed(), weight: 2 });
  return out;
}

/** QEMU-made goldens the campaign uses by default (distinct files of moderate size). */
export const DEFAULT_QEMU_GOLDENS: Readonly<Record<string, number>> = {
  "qemu.none.fill1m": 2,
  "qemu.none.spec8.offset12345": 1,
  "qemu.none.spec8.libvirt": 1,
  "qemu.none.stripes1000p": 1,
  "qemu.pc.stripes16m": 1,
  "qemu.pc.live16m": 1,
  "qemu.q35.numa2": 1,
};

/** Rebuilds a golden blob (src/conformance/storage.ts's MRCX format: gzip of size + non-zero extents). */
function rebuildBlob(gz: Uint8Array): Uint8Array {
  const b = gunzipSync(gz);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (view.getUint32(0, false) !== 0x4d524358) throw new Error("not an MRCX blob");
  const size = Number(view.getBigUint64(8, false));
  const count = view.getUint32(16, false);
  const out = new Uint8Array(size);
  let data = 20 + 16 * count;
  for (let i = 0; i < count; i++) {
    const offset = Number(view.getBigUint64(20 + 16 * i, false));
    const length = Number(view.getBigUint64(28 + 16 * i, false));
    out.set(b.subarray(data, data + length), offset);
    data += length;
  }
  return out;
}

/**
 * QEMU 10.0.2's files from the golden corpus: the cases named in `wanted` whose provenance is QEMU, rebuilt
 * and checked against the case's sha256. Cases that are missing or do not rebuild are left out (and named
 * in `skipped`).
 */
export async function qemuGoldenSeeds(
  wanted: Readonly<Record<string, number>> = DEFAULT_QEMU_GOLDENS,
  root = join(REPO_ROOT, "golden"),
): Promise<{ seeds: Seed[]; skipped: string[] }> {
  const seeds: Seed[] = [];
  const skipped: string[] = [];
  const files = await readdir(join(root, "cases")).catch(() => [] as string[]);
  for (const [id, weight] of Object.entries(wanted)) {
    if (!files.includes(`${id}.json`)) {
      skipped.push(`${id} (no case file)`);
      continue;
    }
    try {
      const c = JSON.parse(await readFile(join(root, "cases", `${id}.json`), "utf8")) as {
        provenance?: { by?: string };
        file?: { blob?: string; sha256?: string; offset?: string };
      };
      if (c.provenance?.by !== "qemu" || !c.file?.blob) {
        skipped.push(`${id} (not a QEMU-made file)`);
        continue;
      }
      const bytes = rebuildBlob(new Uint8Array(await readFile(join(root, c.file.blob))));
      const sha = createHash("sha256").update(bytes).digest("hex");
      if (sha !== c.file.sha256) {
        skipped.push(`${id} (sha256 mismatch)`);
        continue;
      }
      const libvirt = String.fromCharCode(...bytes.subarray(0, 12)) === "LibvirtQemud";
      const offset = c.file.offset === undefined || libvirt ? undefined : BigInt(c.file.offset);
      seeds.push({ name: id, origin: "qemu", bytes, ...(offset ? { offset } : {}), weight });
    } catch (e) {
      skipped.push(`${id} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return { seeds, skipped };
}
