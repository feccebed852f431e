// The reference implementation (src/impl) behind the runner's result shapes: its reader loads a golden,
// its writer makes a golden again from the case's parameters.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { extractBlocks, FileSource, isMappedRamError } from "../../impl/index.js";
import { tempDirSync } from "../../qemu/temp-dir.js";
import { canonicalDigest, prefixDigest } from "../golden/measure.js";
import { applyMutations, parseBig, writeBase, writerParamsForQemu } from "../golden/writer-made.js";
import { type FileCase, isQemuMade, type WriterParams } from "../model.js";
import type { BlockObservation, ReadResult, WriteResult } from "../results.js";
import { firstDifference, sha256File } from "../storage.js";

const hx = (v: bigint) => `0x${v.toString(16)}`;

/** Loads the file at `path` with the reference reader (extractBlocks) into a scratch directory. */
export async function referenceRead(path: string, offset: bigint): Promise<ReadResult> {
  const out = tempDirSync("mrc-ref-");
  let src: FileSource | undefined;
  try {
    src = await FileSource.open(path);
    const r = await extractBlocks(src, out.path, { offset, force: true });
    const layout: BlockObservation[] = r.stream.ramBlocks.map((b) => ({
      idstr: b.idstr,
      usedLength: hx(b.usedLength),
      headerOffset: hx(b.mappedRam?.headerOffset ?? 0n),
      bitmapOffset: hx(b.mappedRam?.bitmapOffset ?? 0n),
      pagesOffset: hx(b.mappedRam?.pagesOffset ?? 0n),
    }));
    const ram = [];
    for (const b of r.blocks) ram.push({ idstr: b.idstr, sha256: await sha256File(b.file) });
    return { kind: "loaded", layout, ram, coverage: "all" };
  } catch (e) {
    if (isMappedRamError(e)) return { kind: "rejected", code: e.code, message: e.message };
    return { kind: "error", message: e instanceof Error ? e.message : String(e) };
  } finally {
    await src?.close();
    await out.cleanup();
  }
}

/** The writer parameters that remake a case, or undefined when our writer cannot make it. */
export function writerRecipe(c: FileCase): WriterParams | undefined {
  if (!isQemuMade(c)) return c.params;
  if (c.provenance.compare !== "bytes") return undefined;
  return writerParamsForQemu(c.params, c.expect.layout?.partSections ?? 1);
}

/**
 * Makes the case's file again with the reference writer (and, for a writer-made case, its recorded
 * mutations) and compares it with the golden at `golden`.
 */
export async function referenceWrite(c: FileCase, golden: string): Promise<WriteResult> {
  const recipe = writerRecipe(c);
  if (recipe === undefined) return { kind: "error", message: "the reference writer cannot make this case" };
  const tmp = tempDirSync("mrc-refw-");
  try {
    const out = join(tmp.path, "out.mig");
    if (isQemuMade(c)) {
      await writeBase(recipe, out, tmp.path, c.params.prefix);
    } else {
      await writeBase(recipe, out, tmp.path);
      await applyMutations(out, c.provenance.mutations);
    }
    return await writtenResult(c, out, golden);
  } catch (e) {
    return { kind: "error", message: e instanceof Error ? e.message : String(e) };
  } finally {
    await tmp.cleanup();
  }
}

/** Digests of a newly made file, compared with the golden. */
export async function writtenResult(
  c: FileCase,
  out: string,
  golden: string,
): Promise<Extract<WriteResult, { kind: "written" }>> {
  const sha256 = await sha256File(out);
  const size = (await stat(out)).size;
  const result: Extract<WriteResult, { kind: "written" }> = { kind: "written", sha256, size };
  if (sha256 !== c.file.sha256) {
    const at = await firstDifference(out, golden);
    if (at !== undefined) result.firstDifference = at;
    const blocks = c.expect.layout?.blocks ?? [];
    if (blocks.length > 0) {
      const resume = blocks.reduce((m, b) => {
        const e = BigInt(b.pagesOffset) + BigInt(b.usedLength);
        return e > m ? e : m;
      }, 0n);
      const mine = await canonicalDigest(out, resume);
      const theirs = await canonicalDigest(golden, resume);
      result.canonical = {
        sha256: mine.sha256,
        parts: mine.parts,
        goldenSha256: theirs.sha256,
        goldenParts: theirs.parts,
      };
    }
  }
  if (c.file.prefix !== undefined) result.prefixSha256 = await prefixDigest(out, parseBig(c.file.prefix.end));
  return result;
}
