// The campaign report as text: cases tried per target, typed errors, the reader-vs-oracle table, and each
// finding with its replay command and shrunk counterexample.
import type { CampaignReport } from "./engine.js";

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

export function formatReport(r: CampaignReport): string {
  const lines: string[] = [];
  lines.push(
    `mutation campaign: fast-check seed ${r.fcSeed}, ${r.cases} cases in ${(r.durationMs / 1000).toFixed(1)} s, ${r.seeds.length} seed files, ${r.restarts} worker restarts`,
  );
  lines.push(`  replay: FC_SEED=${r.fcSeed} npm run fuzz -- --replay <case>`);
  lines.push(
    `  memory: peak RSS growth in a case ${r.peakRssGrowthMb.toFixed(0)} MiB, peak worker ArrayBuffer growth ${r.peakWorkerArrayBuffersMb.toFixed(0)} MiB`,
  );
  lines.push(
    `  ${pad("target", 14)}${lpad("cases", 8)}${lpad("result", 8)}${lpad("typed", 8)}${lpad("broken", 8)}${lpad("ms/case", 9)}  typed errors`,
  );
  for (const [t, s] of Object.entries(r.perTarget)) {
    const codes = Object.entries(s.codes)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([c, n]) => `${c} ${n}`)
      .join(", ");
    lines.push(
      `  ${pad(t, 14)}${lpad(s.cases, 8)}${lpad(s.ok, 8)}${lpad(s.typed, 8)}${lpad(s.fail, 8)}${lpad((s.ms / Math.max(1, s.cases)).toFixed(1), 9)}  ${codes}`,
    );
  }
  const a = r.agreement;
  lines.push(
    `  reader vs oracle: agree on ${a.both} cases; the reader reads ${a.readerOnly.count} that the oracle fails, the oracle passes ${a.oracleOnly.count} that the reader refuses`,
  );
  for (const e of a.readerOnly.examples) lines.push(`    reader only: ${e.slice(0, 300)}`);
  for (const e of a.oracleOnly.examples) lines.push(`    oracle only: ${e.slice(0, 300)}`);
  if (r.distinct.length === 0) lines.push("  findings: none");
  for (const [i, f] of r.distinct.entries()) {
    const count = r.findings.filter((x) => x.signature === f.signature).length;
    lines.push(`  finding ${i + 1} (${count}x): ${f.target} ${f.kind}, first in case ${f.caseIndex}`);
    lines.push(`    replay: FC_SEED=${r.fcSeed} npm run fuzz -- --replay ${f.caseIndex}`);
    lines.push(`    ${f.seedFile}: ${f.mutations.join("; ")}`);
    for (const l of f.detail.split("\n").slice(0, 6)) lines.push(`    | ${l.slice(0, 300)}`);
    if (f.file) lines.push(`    file: ${f.file}`);
    if (f.shrunk) {
      lines.push(`    shrunk: ${f.shrunk.seedFile}: ${f.shrunk.mutations.join("; ")}`);
      if (f.shrunk.file) lines.push(`    shrunk file: ${f.shrunk.file}`);
    }
  }
  return lines.join("\n");
}
