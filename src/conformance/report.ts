// Reporters: a human summary, a JSON report (WPT-like: run_info + results) and JUnit XML. They only
// format a RunOutcome; deciding verdicts is classify's job and matching expectations the runner's.
import { statfs } from "node:fs/promises";
import { arch, cpus, hostname, platform, release } from "node:os";
import type { ConformanceResult, RunOutcome } from "./runner.js";

export interface RunInfo {
  mrc_version: string;
  node: string;
  platform: string;
  arch: string;
  host: string;
  kernel: string;
  cpus: number;
  /** file system of the directory goldens are rebuilt in (holes and O_DIRECT depend on it) */
  filesystem: string;
  corpus: string;
  cases: number;
  implementations: string[];
  qemu: { path: string; version: string; version_text: string; extra_args: string[] } | null;
  qemu_missing?: string;
  expectation_files: { implementation: string; file: string; exists: boolean; entries: number }[];
  duration_ms: number;
}

/** statfs(2) f_type values of common Linux file systems. */
const FS_TYPES: Record<number, string> = {
  61267: "ext4",
  16914836: "tmpfs",
  2435016766: "btrfs",
  1481003842: "xfs",
  801189825: "zfs",
  2035054128: "overlayfs",
  26985: "nfs",
  1702057286: "fuse",
  4283649346: "cifs",
  16914839: "9p",
};

export async function filesystemOf(path: string): Promise<string> {
  try {
    const s = await statfs(path);
    return FS_TYPES[s.type] ?? `unknown (0x${s.type.toString(16)})`;
  } catch {
    return "unknown";
  }
}

export interface RunInfoInput {
  version: string;
  corpus: string;
  tmpDir: string;
  implementations: string[];
  qemu: { path: string; version: string; text: string; extraArgs: string[] } | { missing: string } | null;
}

export async function runInfo(outcome: RunOutcome, input: RunInfoInput): Promise<RunInfo> {
  const q = input.qemu;
  return {
    mrc_version: input.version,
    node: process.version,
    platform: platform(),
    arch: arch(),
    host: hostname(),
    kernel: release(),
    cpus: cpus().length,
    filesystem: await filesystemOf(input.tmpDir),
    corpus: input.corpus,
    cases: outcome.cases,
    implementations: input.implementations,
    qemu:
      q !== null && "path" in q
        ? {
            path: q.path,
            version: q.version,
            version_text: q.text.split("\n")[0] ?? "",
            extra_args: q.extraArgs,
          }
        : null,
    ...(q !== null && "missing" in q ? { qemu_missing: q.missing } : {}),
    expectation_files: outcome.expectationFiles.map((s) => ({
      implementation: s.implementation,
      file: s.file,
      exists: s.exists,
      entries: s.expectations.entries.size,
    })),
    duration_ms: outcome.durationMs,
  };
}

export function jsonReport(info: RunInfo, outcome: RunOutcome): string {
  const results = outcome.results.map((r) => ({
    id: r.id,
    case: r.case,
    role: r.role,
    implementation: r.implementation,
    status: r.status,
    expected: r.expected,
    ...(r.expectedMessage === undefined ? {} : { expected_message: r.expectedMessage }),
    ok: r.ok,
    ...(r.problem === undefined ? {} : { problem: r.problem }),
    message: r.message,
    duration_ms: r.durationMs,
  }));
  const stale = outcome.stale.map((s) => ({ id: s.id, implementation: s.implementation, file: s.file }));
  return `${JSON.stringify({ run_info: info, results, stale }, null, 2)}\n`;
}

/** XML 1.0 text: the five escapes, and characters XML cannot carry dropped. */
export function xmlEscape(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

function problemText(r: ConformanceResult): string {
  switch (r.problem) {
    case "unexpected failure":
      return `unexpected failure: ${r.message}`;
    case "unexpected pass":
      return `unexpected ${r.status}: listed as an expected failure${r.expectedMessage ? ` (${r.expectedMessage})` : ""}`;
    case "message changed":
      return `failure message changed: "${r.message}" does not start with "${r.expectedMessage ?? ""}"`;
    case "listed but skipped":
      return `listed as an expected failure but skipped: ${r.message}`;
    default:
      return r.message;
  }
}

/** JUnit XML: one testsuite per implementation, one testcase per result. */
export function junitReport(outcome: RunOutcome): string {
  const byImpl = new Map<string, ConformanceResult[]>();
  for (const r of outcome.results) byImpl.set(r.implementation, [...(byImpl.get(r.implementation) ?? []), r]);
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let skipped = 0;
  let time = 0;
  for (const [impl, rs] of byImpl) {
    const cases: string[] = [];
    let f = 0;
    let s = 0;
    let t = 0;
    for (const r of rs) {
      const seconds = (r.durationMs / 1000).toFixed(3);
      t += r.durationMs;
      const open = `    <testcase classname="${xmlEscape(impl)}" name="${xmlEscape(r.id)}" time="${seconds}"`;
      if (!r.ok) {
        f++;
        const text = problemText(r);
        cases.push(
          `${open}>\n      <failure message="${xmlEscape(text)}" type="${xmlEscape(r.problem ?? "fail")}">${xmlEscape(text)}</failure>\n    </testcase>`,
        );
      } else if (r.status === "skip") {
        s++;
        cases.push(`${open}>\n      <skipped message="${xmlEscape(r.message)}"/>\n    </testcase>`);
      } else if (r.expected === "fail" || r.status === "nonstrict" || r.message !== "") {
        const note =
          r.expected === "fail"
            ? `expected failure: ${r.message}`
            : `${r.status}${r.message ? `: ${r.message}` : ""}`;
        cases.push(`${open}>\n      <system-out>${xmlEscape(note)}</system-out>\n    </testcase>`);
      } else {
        cases.push(`${open}/>`);
      }
    }
    tests += rs.length;
    failures += f;
    skipped += s;
    time += t;
    suites.push(
      `  <testsuite name="${xmlEscape(impl)}" tests="${rs.length}" failures="${f}" errors="0" skipped="${s}" time="${(t / 1000).toFixed(3)}">\n${cases.join("\n")}\n  </testsuite>`,
    );
  }
  if (outcome.stale.length > 0) {
    const cases = outcome.stale.map(
      (st) =>
        `    <testcase classname="${xmlEscape(st.implementation)}" name="${xmlEscape(st.id)}" time="0.000">\n      <failure message="listed in ${xmlEscape(st.file)} but did not run" type="stale expectation"/>\n    </testcase>`,
    );
    tests += cases.length;
    failures += cases.length;
    suites.push(
      `  <testsuite name="stale expectations" tests="${cases.length}" failures="${cases.length}" errors="0" skipped="0" time="0.000">\n${cases.join("\n")}\n  </testsuite>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="mrc conformance" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="${(time / 1000).toFixed(3)}">\n${suites.join("\n")}\n</testsuites>\n`;
}

/** The human summary: counts per implementation and status, then everything that did not match. */
export function humanReport(outcome: RunOutcome, info: Pick<RunInfo, "qemu" | "qemu_missing">): string {
  const lines: string[] = [];
  const impls = [...new Set(outcome.results.map((r) => r.implementation))];
  lines.push(
    `mrc conformance: ${outcome.cases} cases, ${outcome.results.length} results in ${(outcome.durationMs / 1000).toFixed(1)} s`,
  );
  if (info.qemu)
    lines.push(
      `QEMU under test: ${info.qemu.path} (${info.qemu.version})${info.qemu.extra_args.length ? ` with ${info.qemu.extra_args.join(" ")}` : ""}`,
    );
  else if (info.qemu_missing) lines.push(`QEMU under test: none (${info.qemu_missing})`);
  const width = Math.max(14, ...impls.map((impl) => impl.length));
  for (const impl of impls) {
    const rs = outcome.results.filter((r) => r.implementation === impl);
    const count = (pred: (r: ConformanceResult) => boolean) => rs.filter(pred).length;
    const expectedFail = count((r) => r.status === "fail" && r.ok);
    lines.push(
      `  ${impl.padEnd(width)} ${String(count((r) => r.status === "pass")).padStart(4)} pass  ${String(count((r) => r.status === "nonstrict")).padStart(3)} nonstrict  ${String(count((r) => r.status === "fail")).padStart(3)} fail (${expectedFail} expected)  ${String(count((r) => r.status === "skip")).padStart(3)} skip`,
    );
  }
  const bad = outcome.results.filter((r) => !r.ok);
  if (bad.length > 0) {
    lines.push("", `${bad.length} result${bad.length === 1 ? "" : "s"} did not match expectations:`);
    for (const r of bad) lines.push(`  ${r.implementation} ${r.id}: ${problemText(r)}`);
  }
  if (outcome.stale.length > 0) {
    lines.push("", "listed in an expectation file but did not run:");
    for (const s of outcome.stale) lines.push(`  ${s.implementation} ${s.id} (${s.file})`);
  }
  const skips = outcome.results.filter((r) => r.status === "skip" && r.ok);
  if (skips.length > 0) {
    const reasons = new Map<string, number>();
    for (const r of skips) reasons.set(r.message, (reasons.get(r.message) ?? 0) + 1);
    lines.push("", "skipped:");
    for (const [why, n] of reasons) lines.push(`  ${n} × ${why}`);
  }
  const nonstrict = outcome.results.filter((r) => r.status === "nonstrict");
  if (nonstrict.length > 0) {
    lines.push("", "nonstrict (accepted deviations):");
    for (const r of nonstrict) lines.push(`  ${r.implementation} ${r.id}: ${r.message}`);
  }
  lines.push(
    "",
    bad.length === 0 && outcome.stale.length === 0 ? "OK: every result matches its expectation" : "FAILED",
  );
  return `${lines.join("\n")}\n`;
}
