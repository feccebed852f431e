// migration/savevm.c: qemu_loadvm_state — checkFile walks a file the way QEMU 10.0.2's loader
// would and judges it against the writer's rules. Bad input never throws: it becomes findings.

import { scanBlockData } from "./block-data.js";
import { hex, minBig, quote } from "./bytes.js";
import type { Finding } from "./findings.js";
import { sortFindings } from "./findings.js";
import { checkLibvirtFormat, checkLibvirtPrefix, hasLibvirtMagic } from "./libvirt.js";
import { walkPreamble } from "./preamble.js";
import { StreamReader } from "./reader.js";
import { checkOverlaps } from "./regions.js";
import { checkVmdesc, walkSections } from "./sections.js";
import { type ByteSource, openFileSource } from "./source.js";
import { locateVmdesc } from "./vmdesc.js";
import { type CheckOptions, type ObservedBlock, Walk } from "./walk.js";

export interface CheckReport {
  /** in file order */
  readonly findings: readonly Finding[];
  /** the RAM blocks as the file has them, in stream order */
  readonly blocks: readonly ObservedBlock[];
}

export async function checkFile(file: ByteSource, options: CheckOptions = {}): Promise<CheckReport> {
  // Without an explicit offset, a libvirt save image's stream starts after its header and data.
  const libvirt = options.offset === undefined && (await hasLibvirtMagic(file));
  const probe = new Walk(file, options, 0n);
  const prefix = libvirt ? await checkLibvirtPrefix(probe, file) : undefined;
  const start = options.offset ?? prefix?.streamStart ?? 0n;
  const w = new Walk(file, options, start);
  for (const f of probe.findings) w.findings.push(f);
  if (prefix && !prefix.walkable) return { findings: sortFindings(w.findings), blocks: w.blocks };
  if (prefix) w.regions.push({ start: 0n, end: start, label: "the libvirt header and data" });
  w.vmdesc = await locateVmdesc(file);
  const r = new StreamReader(file, start);
  let streamEnd = start;
  if ((await walkPreamble(w, r)) === "ok") {
    const end = await walkSections(w, r);
    streamEnd = r.pos;
    if (end.vmdesc !== undefined) {
      const jsonEnd = end.vmdesc.jsonOffset + end.vmdesc.length;
      streamEnd = minBig(jsonEnd, file.size);
      if (w.vmdesc?.typeOffset !== end.vmdesc.typeOffset) {
        w.report("vmdesc.locate.failed", end.vmdesc.typeOffset, {
          subject: "vmdesc",
          field: "position",
          rule: "must be where a search from the end of the file (analyze-migration.py) finds it",
          expected: hex(end.vmdesc.typeOffset),
          actual: w.vmdesc === undefined ? "not found" : hex(w.vmdesc.typeOffset),
        });
      }
    } else if (end.eofOffset === undefined && w.vmdesc !== undefined) {
      // The walk stopped early: still check the vmdesc found from the end.
      checkVmdesc(w, w.vmdesc);
    }
  } else {
    streamEnd = r.pos;
  }
  w.streamRegion(minBig(streamEnd, file.size));
  if (prefix) checkLibvirtFormat(w, prefix);
  checkOverlaps(w);
  await checkImages(w);
  return { findings: sortFindings(w.findings), blocks: w.blocks };
}

/** Open `path`, check it, close it. I/O errors (ENOENT, EACCES...) are thrown, not findings. */
export async function checkPath(path: string, options: CheckOptions = {}): Promise<CheckReport> {
  const src = await openFileSource(path);
  try {
    return await checkFile(src, options);
  } finally {
    await src.close();
  }
}

async function checkImages(w: Walk): Promise<void> {
  const images = new Map((w.options.ram ?? []).map((i) => [i.idstr, i.image]));
  for (const [idstr, image] of images) {
    const blocks = w.blocks.filter((b) => b.idstr === idstr);
    if (blocks.length === 0) {
      w.report("ram.image.blockMissing", w.blocks[0]?.recordOffset ?? w.start, {
        subject: `ramblock ${quote(idstr)}`,
        field: "idstr",
        rule: `must be one of the file's blocks (${w.blocks.map((b) => quote(b.idstr)).join(", ") || "none"})`,
      });
    }
    for (const b of blocks) {
      if (image.size !== b.usedLength) {
        w.report("ram.image.sizeMismatch", b.recordOffset + 1n + BigInt(b.idstr.length), {
          subject: `ramblock ${quote(idstr)}`,
          field: "used_length",
          rule: `must be the image size (${hex(image.size)})`,
          expected: hex(image.size),
          actual: hex(b.usedLength),
        });
      }
    }
  }
  for (const b of w.blocks) if (!b.ignored) await scanBlockData(w, b, images.get(b.idstr));
}
