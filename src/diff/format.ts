// Human output of `mrc diff`: one fact per line, stable order, no positions that would differ
// between two saves of the same VM — meant to be read in a CI log.
import type { BlockDiff, ContentRange, DeviceRef, DiffReport, FieldChange, PageRange } from "./types.js";

export interface DiffStyle {
  red(s: string): string;
  green(s: string): string;
  bold(s: string): string;
}

const PLAIN: DiffStyle = { red: (s) => s, green: (s) => s, bold: (s) => s };

function value(v: FieldChange["a"]): string {
  if (v === null) return "(absent)";
  if (Array.isArray(v)) return `[${v.join(", ")}]`;
  return typeof v === "string" ? v : String(v);
}

function fieldLines(changes: readonly FieldChange[], indent: string): string[] {
  return changes.map((c) => `${indent}${c.field}: a ${value(c.a)}, b ${value(c.b)}`);
}

function pages(r: PageRange): string {
  const span = r.first === r.last ? `page ${r.first}` : `pages ${r.first}-${r.last}`;
  return `${span} (${r.count} page${r.count === 1 ? "" : "s"})`;
}

function contentLine(r: ContentRange): string {
  const d = r.firstDifference;
  return `${pages(r)}: first difference at byte ${d.offset} (page ${d.page}): a ${d.a}, b ${d.b}`;
}

function device(d: DeviceRef): string {
  return `${d.idstr}/${d.instanceId}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function blockLines(b: BlockDiff, s: DiffStyle): string[] {
  const out: string[] = [];
  const head = `  block "${b.idstr}": ${b.pages.compared} pages compared`;
  if (b.equal) {
    out.push(`${head}, ${s.green("same")} (${b.bitmap.presentA} present)`);
    return out;
  }
  out.push(`${head}, ${s.red("differs")}`);
  out.push(...fieldLines(b.changes, "    "));
  const p = b.pages;
  if (p.differing > 0) {
    out.push(`    contents: ${plural(p.differing, "page")} differ`);
    for (const r of p.ranges) out.push(`      ${contentLine(r)}`);
    if (p.truncated) out.push("      … more ranges (raise --max-ranges)");
  } else {
    out.push("    contents: same over the compared pages");
  }
  if (p.onlyA) out.push(`    only in a: ${pages(p.onlyA)}, ${p.onlyA.nonZero} not zero`);
  if (p.onlyB) out.push(`    only in b: ${pages(p.onlyB)}, ${p.onlyB.nonZero} not zero`);
  const bm = b.bitmap;
  if (bm.differing === 0) {
    out.push(`    bitmap: same (${bm.presentA} present)`);
  } else {
    out.push(
      `    bitmap: ${plural(bm.differing, "page")} differ (present: a ${bm.presentA}, b ${bm.presentB})`,
    );
    for (const r of bm.onlyA) out.push(`      present only in a: ${pages(r)}`);
    for (const r of bm.onlyB) out.push(`      present only in b: ${pages(r)}`);
    if (bm.truncated) out.push("      … more ranges (raise --max-ranges)");
  }
  return out;
}

/** The report as text, one line per fact, ending with `result: equal` or `result: differ`. */
export function formatDiff(r: DiffReport, s: DiffStyle = PLAIN): string {
  const same = s.green("same");
  const differs = s.red("differs");
  const out: string[] = [];
  out.push(`a: ${r.a.file} (stream at ${r.a.offset}, ${r.a.mappedRam ? "mapped-ram" : "ordinary stream"})`);
  out.push(`b: ${r.b.file} (stream at ${r.b.offset}, ${r.b.mappedRam ? "mapped-ram" : "ordinary stream"})`);

  out.push(`stream: ${r.stream.length === 0 ? same : differs}`);
  out.push(...fieldLines(r.stream, "  "));
  out.push(`configuration: ${r.configuration.equal ? same : differs}`);
  out.push(...fieldLines(r.configuration.changes, "  "));
  out.push(`ram section: ${r.ramSection.length === 0 ? same : differs}`);
  out.push(...fieldLines(r.ramSection, "  "));

  const bl = r.blocks;
  out.push(
    `blocks: ${bl.equal ? same : differs} (a: ${bl.a.join(", ") || "none"}; b: ${bl.b.join(", ") || "none"})`,
  );
  if (bl.onlyA.length > 0) out.push(`  only in a: ${bl.onlyA.join(", ")}`);
  if (bl.onlyB.length > 0) out.push(`  only in b: ${bl.onlyB.join(", ")}`);
  if (bl.orderDiffers) out.push("  the common blocks come in a different order");
  for (const b of bl.compared) out.push(...blockLines(b, s));

  const dv = r.devices;
  out.push(
    `devices: ${dv.equal ? same : differs} (a: ${dv.a.map(device).join(", ") || "none"}; b: ${dv.b.map(device).join(", ") || "none"})`,
  );
  if (dv.onlyA.length > 0) out.push(`  only in a: ${dv.onlyA.map(device).join(", ")}`);
  if (dv.onlyB.length > 0) out.push(`  only in b: ${dv.onlyB.map(device).join(", ")}`);
  if (dv.orderDiffers) out.push("  the common devices come in a different order");
  for (const d of dv.changed) {
    out.push(`  device ${device(d)}: ${differs}`);
    out.push(...fieldLines(d.changes, "    "));
    if (d.firstDifference) {
      const f = d.firstDifference;
      out.push(`    payload: first difference at byte ${f.offset}: a ${f.a ?? "(end)"}, b ${f.b ?? "(end)"}`);
    }
    out.push(...fieldLines(d.fields, "    field "));
  }

  const cmd = (c: { command: string; data: string }) => (c.data ? `${c.command}:${c.data}` : c.command);
  out.push(
    `commands: ${r.commands.equal ? same : differs} (a: ${r.commands.a.map(cmd).join(", ") || "none"}; b: ${r.commands.b.map(cmd).join(", ") || "none"})`,
  );

  const v = r.vmdesc;
  const len = (x: { length: number } | null) => (x ? `${x.length} bytes` : "absent");
  out.push(`vmdesc: ${v.equal ? same : differs} (a: ${len(v.a)}; b: ${len(v.b)})`);
  for (const c of v.changes) out.push(`  ${c.path}: a ${c.a ?? "(absent)"}, b ${c.b ?? "(absent)"}`);
  if (v.truncated) out.push("  … more changes");

  for (const n of r.notes) out.push(`note: ${n}`);
  out.push(`result: ${r.equal ? s.green("equal") : s.bold(s.red("differ"))}`);
  return `${out.join("\n")}\n`;
}
