// `npm run golden:update`: makes every golden from its definition and records it under golden/ —
// golden/cases/<id>.json (the case as data) and golden/blobs/<sha256>.mrx.gz (the file, compactly).
// QEMU-made cases need QEMU 10.0.2; our writer never makes them. Refused when CI is set.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FileSource, parseStream } from "../../impl/index.js";
import { formatVersion, type QemuBinary } from "../../qemu/index.js";
import { tempDirSync } from "../../qemu/temp-dir.js";
import { oracleFindings } from "../adapters/oracle.js";
import { referenceRead, writtenResult } from "../adapters/reference.js";
import { classify } from "../classify.js";
import {
  type Case,
  type ExpectedRam,
  type FileCase,
  isQemuMade,
  type Mutation,
  type QemuFileCase,
  type QemuProvenance,
  type StoredGolden,
  type WriterProvenance,
} from "../model.js";
import { imageDigest, type PageWrite } from "../patterns.js";
import { rebuildFromBlob, scanFile, writeBlob } from "../storage.js";
import { GOLDEN_DEFS, type GoldenDef, type MutationContext, SEQUENCE_CASES } from "./definitions.js";
import { blockDigestFromFile, measureLayout, prefixDigest } from "./measure.js";
import { qemuSave } from "./qemu-made.js";
import { applyMutations, parseBig, writeBase } from "./writer-made.js";

/** The QEMU release QEMU-made goldens come from. */
export const GOLDEN_QEMU_VERSION = "10.0.2";
export const WRITER_NAME = "mrc reference writer (src/impl saveMappedRam)";

export interface UpdateOptions {
  corpusDir: string;
  qemu?: QemuBinary;
  /** only cases whose id this accepts (no stale files are removed then) */
  only?: (id: string) => boolean;
  /**
   * Replace QEMU-made goldens even when QEMU made an equivalent file (default: keep the recorded one,
   * so timing-dependent details do not churn the corpus).
   */
  refresh?: boolean;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface UpdateResult {
  written: string[];
  removedCases: string[];
  removedBlobs: string[];
  blobBytes: number;
}

const hx = (v: bigint) => `0x${v.toString(16)}`;

/** Case JSON: two-space indent, trailing newline (golden/**\/*.json is not formatted by Biome). */
export function caseJson(c: Case): string {
  return `${JSON.stringify(c, null, 2)}\n`;
}

async function makeFile(def: GoldenDef, out: string, tmp: string, qemu: QemuBinary | undefined) {
  if (def.by === "qemu") {
    if (qemu === undefined)
      throw new Error(`${def.id}: QEMU-made goldens need qemu-system-x86_64 ${GOLDEN_QEMU_VERSION}`);
    const run = await qemuSave(def.params, out, tmp, { binary: qemu });
    if (!run.ok) throw new Error(`${def.id}: QEMU save failed: ${run.failure ?? "unknown"}`);
    const provenance: QemuProvenance = {
      by: "qemu",
      version: formatVersion(qemu.version),
      versionText: qemu.text.split("\n")[0] ?? "",
      argv: run.argv,
      qmp: run.qmp,
      compare: def.compare,
      ...(run.notes.length > 0 ? { notes: run.notes } : {}),
    };
    return { provenance, finalRam: run.finalRam };
  }
  const base = await writeBase(def.params, out, tmp);
  const src = await FileSource.open(out);
  let mutations: Mutation[] = [];
  try {
    const ctx: MutationContext = { ...base, readAt: (offset, length) => src.read(offset, length) };
    mutations = def.mutations ? await def.mutations(ctx) : [];
  } finally {
    await src.close();
  }
  await applyMutations(out, mutations);
  const provenance: WriterProvenance = { by: "writer", writer: WRITER_NAME, mutations };
  const finalRam = new Map<string, string>();
  for (const b of def.params.blocks) {
    const writes: PageWrite[] = (def.params.rounds ?? [])
      .filter((r) => r.block === b.id)
      .flatMap((r) => r.writes);
    finalRam.set(b.id, imageDigest(parseBig(b.size), b.pattern, writes).sha256);
  }
  return { provenance, finalRam };
}

async function readCase(path: string): Promise<FileCase | undefined> {
  try {
    const c = JSON.parse(await readFile(path, "utf8")) as Case;
    return c.kind === "file" ? c : undefined;
  } catch {
    return undefined;
  }
}

async function partSections(path: string, offset: bigint): Promise<number | undefined> {
  const src = await FileSource.open(path);
  try {
    const s = await parseStream(src, { offset, stopAfterRam: true });
    return s.records.filter((r) => r.kind === "section" && r.type === "part").length;
  } catch {
    return undefined;
  } finally {
    await src.close();
  }
}

/** Makes one golden; returns the case and the blob's size. */
/**
 * Whether a newly made QEMU file is what the recorded golden already is, by the case's compare mode
 * (the number of empty PART records, device clocks and live-save timing vary between runs).
 */
async function sameAsRecorded(
  prev: QemuFileCase,
  out: string,
  corpusDir: string,
  tmp: string,
): Promise<boolean> {
  const golden = join(tmp, "recorded.mig");
  await rebuildFromBlob(join(corpusDir, prev.file.blob), prev.file.sha256, golden);
  const result = await writtenResult(prev, out, golden);
  if (prev.provenance.compare !== "bytes") {
    const offset = parseBig(prev.file.offset);
    const check = await oracleFindings(out, offset);
    if (check.kind === "error") return false;
    result.validity = { findings: check.findings };
    if (prev.provenance.compare === "validity") result.validity.read = await referenceRead(out, offset);
  }
  return classify(prev, { role: "write", implementation: "qemu", result }).status === "pass";
}

/** The hand-written parts of a definition over a recorded case (its file and measurements kept). */
function withDefinition(prev: QemuFileCase, def: GoldenDef): FileCase {
  const expect = { ...prev.expect, ...def.expect, findings: [...def.expect.findings].sort() };
  for (const k of ["info", "reader", "qemu"] as const) if (def.expect[k] === undefined) delete expect[k];
  return {
    id: prev.id,
    kind: "file",
    description: def.description,
    checks: def.checks,
    ...(def.requires ? { requires: def.requires } : {}),
    params: prev.params,
    provenance: prev.provenance,
    file: prev.file,
    expect,
  };
}

export async function makeCase(
  def: GoldenDef,
  corpusDir: string,
  qemu: QemuBinary | undefined,
  previous?: FileCase,
): Promise<{ c: FileCase; blobBytes: number; kept: boolean }> {
  const tmp = tempDirSync("mrc-golden-");
  try {
    const out = join(tmp.path, "golden.mig");
    const { provenance, finalRam } = await makeFile(def, out, tmp.path, qemu);
    if (
      def.by === "qemu" &&
      previous !== undefined &&
      isQemuMade(previous) &&
      previous.provenance.compare === def.compare &&
      JSON.stringify(previous.params) === JSON.stringify(def.params) &&
      (await sameAsRecorded(previous, out, corpusDir, tmp.path))
    ) {
      return { c: withDefinition(previous, def), blobBytes: 0, kept: true };
    }
    const stored = await scanFile(out);
    const blob = `blobs/${stored.sha256}.mrx.gz`;
    const blobBytes = await writeBlob(join(corpusDir, blob), stored);
    const offset = def.params.offset === undefined ? 0n : parseBig(def.params.offset);
    const file: StoredGolden = { blob, size: Number(stored.size), sha256: stored.sha256, offset: hx(offset) };
    const expect: FileCase["expect"] = { ...def.expect, findings: [...def.expect.findings].sort() };
    if (def.expect.verdict !== "invalid") {
      const blocks = await measureLayout(out, offset);
      const parts = await partSections(out, offset);
      expect.layout = {
        ...(parts === undefined ? {} : { partSections: parts }),
        blocks: blocks.map(({ mapped: _m, ...b }) => b),
      };
      const ram: ExpectedRam[] = [];
      for (const b of blocks) {
        if (!b.mapped) continue;
        const sha = finalRam.get(b.idstr);
        ram.push({
          idstr: b.idstr,
          usedLength: b.usedLength,
          sha256: sha ?? (await blockDigestFromFile(out, b)),
          source: sha === undefined ? "file" : "pattern",
        });
      }
      expect.ram = ram;
      if (def.by === "qemu" && def.compare === "ram") {
        const end = blocks.reduce((m, b) => {
          const e = BigInt(b.pagesOffset) + BigInt(b.usedLength);
          return e > m ? e : m;
        }, 0n);
        file.prefix = { end: hx(end), sha256: await prefixDigest(out, end) };
      }
    }
    const base = {
      id: def.id,
      kind: "file" as const,
      description: def.description,
      checks: def.checks,
      ...(def.requires ? { requires: def.requires } : {}),
    };
    const c: FileCase =
      def.by === "qemu"
        ? { ...base, params: def.params, provenance: provenance as QemuProvenance, file, expect }
        : { ...base, params: def.params, provenance: provenance as WriterProvenance, file, expect };
    return { c, blobBytes, kept: false };
  } finally {
    await tmp.cleanup();
  }
}

export async function updateGolden(opts: UpdateOptions): Promise<UpdateResult> {
  const env = opts.env ?? process.env;
  if (env.CI !== undefined && env.CI !== "" && env.CI !== "0" && env.CI !== "false") {
    throw new Error(
      "golden:update is refused under CI: goldens are regenerated on a developer machine and committed",
    );
  }
  const log = opts.log ?? (() => undefined);
  if (opts.qemu !== undefined && formatVersion(opts.qemu.version) !== GOLDEN_QEMU_VERSION) {
    throw new Error(
      `QEMU-made goldens come from QEMU ${GOLDEN_QEMU_VERSION}; ${opts.qemu.path} is ${formatVersion(opts.qemu.version)}`,
    );
  }
  const casesDir = join(opts.corpusDir, "cases");
  await mkdir(casesDir, { recursive: true });
  const only = opts.only ?? (() => true);
  const result: UpdateResult = { written: [], removedCases: [], removedBlobs: [], blobBytes: 0 };
  for (const def of GOLDEN_DEFS) {
    if (!only(def.id)) continue;
    const path = join(casesDir, `${def.id}.json`);
    const previous = opts.refresh ? undefined : await readCase(path);
    const { c, blobBytes, kept } = await makeCase(def, opts.corpusDir, opts.qemu, previous);
    await writeFile(path, caseJson(c));
    result.written.push(c.id);
    log(
      kept
        ? `${c.id}: QEMU made an equivalent file; the recorded golden is kept`
        : `${c.id}: ${c.file.size} bytes, blob ${blobBytes} bytes, sha256 ${c.file.sha256.slice(0, 16)}`,
    );
  }
  for (const s of SEQUENCE_CASES) {
    if (!only(s.id)) continue;
    await writeFile(join(casesDir, `${s.id}.json`), caseJson(s));
    result.written.push(s.id);
    log(`${s.id}: sequence`);
  }
  if (opts.only === undefined) {
    const known = new Set([...GOLDEN_DEFS.map((d) => d.id), ...SEQUENCE_CASES.map((s) => s.id)]);
    const used = new Set<string>();
    for (const name of await readdir(casesDir)) {
      if (!name.endsWith(".json")) continue;
      const id = name.slice(0, -".json".length);
      if (!known.has(id)) {
        await rm(join(casesDir, name));
        result.removedCases.push(id);
        continue;
      }
      const c = JSON.parse(await readFile(join(casesDir, name), "utf8")) as Case;
      if (c.kind === "file") used.add(c.file.blob);
    }
    const blobsDir = join(opts.corpusDir, "blobs");
    for (const name of await readdir(blobsDir).catch(() => [] as string[])) {
      if (!used.has(`blobs/${name}`)) {
        await rm(join(blobsDir, name));
        result.removedBlobs.push(name);
      }
    }
    for (const b of used) result.blobBytes += (await readFile(join(opts.corpusDir, b))).length;
  }
  return result;
}
