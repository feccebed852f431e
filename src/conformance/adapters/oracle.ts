// The oracle (src/oracle) behind the runner's result shape: its verdict on a golden is its findings.
import { type ByteSource, checkFile, openFileSource, type RamImage } from "../../oracle/index.js";
import { blockPage, parseBig } from "../golden/writer-made.js";
import { type BlockParam, type FileCase, isQemuMade } from "../model.js";
import { PAGE_SIZE } from "../patterns.js";
import type { CheckResult } from "../results.js";

/** A block's pattern image as a random-access source, generated page by page (never held whole). */
export function patternSource(b: BlockParam): ByteSource {
  const size = parseBig(b.size);
  const page = new Uint8Array(PAGE_SIZE);
  return {
    size,
    async readInto(offset, into) {
      if (offset >= size) return 0;
      const n = Number(offset + BigInt(into.length) > size ? size - offset : BigInt(into.length));
      let done = 0;
      while (done < n) {
        const at = offset + BigInt(done);
        const p = Number(at / BigInt(PAGE_SIZE));
        const within = Number(at % BigInt(PAGE_SIZE));
        blockPage(b, p, page);
        const take = Math.min(PAGE_SIZE - within, n - done);
        into.set(page.subarray(within, within + take), done);
        done += take;
      }
      return n;
    },
  };
}

/**
 * The images the oracle compares bitmap and pages with: only for a file that is a plain save of its
 * pattern images (QEMU-made without guest writes, or writer-made without rounds or mutations).
 */
export function imagesFor(c: FileCase): RamImage[] {
  if (isQemuMade(c)) {
    if (c.params.live !== undefined) return [];
    return c.params.blocks.map((b) => ({ idstr: b.id, image: patternSource(b) }));
  }
  if (c.provenance.mutations.length > 0 || c.params.rounds !== undefined) return [];
  return c.params.blocks.map((b) => ({ idstr: b.id, image: patternSource(b) }));
}

export async function oracleCheck(c: FileCase, path: string): Promise<CheckResult> {
  try {
    const src = await openFileSource(path);
    try {
      const report = await checkFile(src, { offset: parseBig(c.file.offset), ram: imagesFor(c) });
      return { kind: "checked", findings: report.findings.map((f) => ({ id: f.id, severity: f.severity })) };
    } finally {
      await src.close();
    }
  } catch (e) {
    return { kind: "error", message: e instanceof Error ? e.message : String(e) };
  }
}

/** The oracle's findings on a newly made file (for `compare: validity`). */
export async function oracleFindings(path: string, offset: bigint): Promise<CheckResult> {
  try {
    const src = await openFileSource(path);
    try {
      const report = await checkFile(src, { offset });
      return { kind: "checked", findings: report.findings.map((f) => ({ id: f.id, severity: f.severity })) };
    } finally {
      await src.close();
    }
  } catch (e) {
    return { kind: "error", message: e instanceof Error ? e.message : String(e) };
  }
}
