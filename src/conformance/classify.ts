// classify(case, observation): the one pure function that decides a verdict. No I/O, no clock; the
// runner, the adapters and the reporters stay outside. Messages are one line and depend only on the
// behaviour observed (no paths, pids or timings), so expectation files can match them by prefix.
import type { Case, Expectation, ExpectedBlock, FileCase } from "./model.js";
import type {
  BlockObservation,
  CheckResult,
  FindingObservation,
  ImplementationKind,
  Observation,
  ReadResult,
  RunResult,
  Verdict,
  WriteResult,
} from "./results.js";

const pass = (message = ""): Verdict => ({ status: "pass", message });
const fail = (message: string): Verdict => ({ status: "fail", message });
const nonstrict = (message: string): Verdict => ({ status: "nonstrict", message });

function oneLine(text: string, max = 200): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const LAYOUT_FIELDS = ["usedLength", "headerOffset", "bitmapOffset", "pagesOffset"] as const;

/** First difference between expected and observed layouts, or undefined. */
function layoutDifference(
  expected: Expectation["layout"],
  observed: BlockObservation[] | undefined,
): string | undefined {
  if (expected === undefined || observed === undefined) return undefined;
  const want = expected.blocks.map((b) => b.idstr).join(", ");
  const got = observed.map((b) => b.idstr).join(", ");
  if (want !== got) return `blocks [${got}], expected [${want}]`;
  for (let i = 0; i < expected.blocks.length; i++) {
    const e = expected.blocks[i] as ExpectedBlock;
    const o = observed[i] as BlockObservation;
    for (const f of LAYOUT_FIELDS) {
      if (BigInt(e[f]) !== BigInt(o[f])) return `block "${e.idstr}" ${f} ${o[f]}, expected ${e[f]}`;
    }
  }
  return undefined;
}

/** First difference between expected and loaded RAM, or undefined. */
function ramDifference(
  expected: Expectation["ram"],
  loaded: Extract<ReadResult, { kind: "loaded" }>,
): string | undefined {
  const want = new Map((expected ?? []).map((r) => [r.idstr, r.sha256]));
  for (const r of loaded.ram) {
    const sha = want.get(r.idstr);
    if (sha === undefined) {
      if (loaded.coverage === "all") return `loaded a block "${r.idstr}" the file should not give`;
      continue;
    }
    if (sha !== r.sha256) return `RAM of block "${r.idstr}" differs from the expected contents`;
  }
  if (loaded.coverage === "all") {
    const seen = new Set(loaded.ram.map((r) => r.idstr));
    for (const idstr of want.keys()) if (!seen.has(idstr)) return `block "${idstr}" was not loaded`;
  }
  return undefined;
}

function readRefusal(r: Extract<ReadResult, { kind: "rejected" }>): string {
  if (r.code !== undefined) return `${r.code}: ${oneLine(r.message, 160)}`;
  return oneLine(r.errorDesc ?? r.message, 160);
}

function classifyRead(c: FileCase, impl: ImplementationKind, r: ReadResult): Verdict {
  const e = c.expect;
  switch (r.kind) {
    case "error":
      return fail(`error: ${oneLine(r.message)}`);
    case "crashed":
      return fail(`crashed: exited by signal ${r.signal}`);
    case "loaded": {
      if (e.verdict === "invalid") return fail("accepted an invalid file");
      const layout = layoutDifference(e.layout, r.layout);
      if (layout !== undefined) return fail(`wrong layout: ${layout}`);
      const ram = ramDifference(e.ram, r);
      if (ram !== undefined) return fail(`wrong RAM: ${ram}`);
      return pass(r.note ?? "");
    }
    case "rejected": {
      if (e.verdict === "valid") return fail(`rejected a valid file: ${readRefusal(r)}`);
      if (e.verdict === "nonstrict") return nonstrict(`refused a nonstrict file: ${readRefusal(r)}`);
      if (impl === "qemu") {
        const want = e.qemu;
        if (want !== undefined) {
          if (r.errorDesc !== want.errorDesc) {
            return fail(
              `rejected with "${oneLine(r.errorDesc ?? r.message, 120)}", expected "${want.errorDesc}"`,
            );
          }
          if (want.stderrIncludes !== undefined && !(r.stderr ?? "").includes(want.stderrIncludes)) {
            return fail(`rejected without printing "${want.stderrIncludes}"`);
          }
        }
        return pass();
      }
      if (e.reader !== undefined && r.code !== e.reader.code) {
        return fail(`rejected with ${r.code ?? "no code"}, expected ${e.reader.code}`);
      }
      return pass();
    }
  }
}

function severityIds(
  findings: readonly FindingObservation[],
  ...severities: FindingObservation["severity"][]
) {
  return [...new Set(findings.filter((f) => severities.includes(f.severity)).map((f) => f.id))].sort();
}

/**
 * The oracle passes when it reports every expected finding. Extra findings are allowed after an
 * expected `fail` (one broken structure makes the walk report what follows it); otherwise an extra
 * `fail` fails and an extra `nonstrict` is `nonstrict`. Expected `info` findings must be there too.
 */
export function classifyFindings(
  e: Expectation,
  findings: readonly FindingObservation[],
  severityOf: (id: string) => string | undefined,
): Verdict {
  const reported = severityIds(findings, "fail", "nonstrict");
  const info = severityIds(findings, "info");
  const missing = e.findings.filter((id) => !reported.includes(id));
  if (missing.length > 0)
    return fail(`missed ${missing.join(", ")}${reported.length ? `; reported ${reported.join(", ")}` : ""}`);
  const missingInfo = (e.info ?? []).filter((id) => !info.includes(id));
  if (missingInfo.length > 0) return fail(`missed info ${missingInfo.join(", ")}`);
  const extra = reported.filter((id) => !e.findings.includes(id));
  if (extra.length === 0) return pass();
  const cascades = e.verdict === "invalid" || e.findings.some((id) => severityOf(id) === "fail");
  if (cascades) return pass();
  const extraFail = extra.filter((id) => findings.some((f) => f.id === id && f.severity === "fail"));
  if (extraFail.length > 0) return fail(`reported ${extraFail.join(", ")} on a file QEMU 10.0 accepts`);
  return nonstrict(`also reported ${extra.join(", ")}`);
}

function classifyCheck(c: FileCase, r: CheckResult): Verdict {
  if (r.kind === "error") return fail(`error: ${oneLine(r.message)}`);
  const severity = new Map(r.findings.map((f) => [f.id, f.severity]));
  return classifyFindings(c.expect, r.findings, (id) => severity.get(id));
}

function classifyWrite(c: FileCase, r: WriteResult): Verdict {
  switch (r.kind) {
    case "error":
      return fail(`error: ${oneLine(r.message)}`);
    case "crashed":
      return fail(`crashed: exited by signal ${r.signal}`);
    case "failed":
      return fail(`save failed: ${oneLine(r.message)}`);
    case "written":
      break;
  }
  const mode = c.provenance.by === "qemu" ? c.provenance.compare : "bytes";
  if (mode === "bytes") {
    if (r.sha256 === c.file.sha256) return pass();
    const k = r.canonical;
    if (k !== undefined && k.sha256 === k.goldenSha256) {
      return pass(
        `same bytes apart from the number of empty SECTION_PART records (${k.parts}, golden ${k.goldenParts})`,
      );
    }
    const at =
      r.firstDifference === undefined ? "" : `, first difference at 0x${r.firstDifference.toString(16)}`;
    return fail(`bytes differ from the golden (${r.size} bytes, golden ${c.file.size}${at})`);
  }
  if (mode === "ram") {
    const prefix = c.file.prefix;
    if (prefix === undefined) return fail("error: the golden has no prefix digest for compare: ram");
    if (r.prefixSha256 !== prefix.sha256) {
      const at =
        r.firstDifference !== undefined && BigInt(r.firstDifference) < BigInt(prefix.end)
          ? ` (first difference at 0x${r.firstDifference.toString(16)})`
          : "";
      return fail(`RAM image (bytes before ${prefix.end}) differs from the golden${at}`);
    }
    const failing = severityIds(r.validity?.findings ?? [], "fail");
    if (failing.length > 0) return fail(`the new file is not valid: ${failing.join(", ")}`);
    return pass();
  }
  // validity: timing-dependent bytes; the new file must be valid and load into the expected RAM
  const v = r.validity;
  if (v === undefined) return fail("error: no validity check was made");
  const failing = severityIds(v.findings, "fail");
  if (failing.length > 0) return fail(`the new file is not valid: ${failing.join(", ")}`);
  if (v.read === undefined) return fail("error: the new file was not read");
  const read = classifyRead(c, "reference", v.read);
  if (read.status !== "pass") return fail(`the new file does not load as expected: ${read.message}`);
  return pass();
}

function classifyRun(r: RunResult): Verdict {
  switch (r.kind) {
    case "error":
      return fail(`error: ${oneLine(r.message)}`);
    case "crashed":
      return fail(`crashed: exited by signal ${r.signal}`);
    case "survived":
      return pass(r.outcome);
  }
}

/** Decides the verdict of one observation of one case. */
export function classify(c: Case | { kind: "caps"; id: string }, o: Observation): Verdict {
  if ("skip" in o) return { status: "skip", message: o.skip };
  switch (o.role) {
    case "read":
      if (c.kind !== "file") return fail(`error: ${c.id} is not a file case`);
      return classifyRead(c, o.implementation, o.result);
    case "check":
      if (c.kind !== "file") return fail(`error: ${c.id} is not a file case`);
      return classifyCheck(c, o.result);
    case "write":
      if (c.kind !== "file") return fail(`error: ${c.id} is not a file case`);
      return classifyWrite(c, o.result);
    case "run":
      return classifyRun(o.result);
    case "caps": {
      const r = o.result;
      if (r.kind === "error") return fail(`error: ${oneLine(r.message)}`);
      if (r.kind === "crashed") return fail(`crashed: exited by signal ${r.signal}`);
      return r.mismatches.length === 0 ? pass() : fail(oneLine(r.mismatches[0] as string));
    }
  }
}
