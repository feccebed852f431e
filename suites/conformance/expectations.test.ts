// Expectation files, case filters and reporters: pure, without QEMU.
import { describe, expect, it } from "vitest";
import {
  ExpectationFileError,
  formatExpectations,
  matchExpectation,
  parseExpectations,
  updatedExpectations,
} from "../../src/conformance/expectations.js";
import { idMatcher } from "../../src/conformance/match.js";
import { humanReport, jsonReport, junitReport, xmlEscape } from "../../src/conformance/report.js";
import type { ConformanceResult, RunOutcome } from "../../src/conformance/runner.js";

const TEXT = `# Expected failures of qemu-10.0
# second header line

qemu.sequence.directIoOneFd:run  # crashed: exited by signal SIGSEGV
writer.header.pageSize8192:read
`;

describe("expectation files", () => {
  it("parses ids, optional message prefixes and the header", () => {
    const f = parseExpectations(TEXT);
    expect(f.header).toEqual(["# Expected failures of qemu-10.0", "# second header line"]);
    expect(f.entries.get("qemu.sequence.directIoOneFd:run")).toEqual({
      id: "qemu.sequence.directIoOneFd:run",
      line: 4,
      messagePrefix: "crashed: exited by signal SIGSEGV",
    });
    expect(f.entries.get("writer.header.pageSize8192:read")).toEqual({
      id: "writer.header.pageSize8192:read",
      line: 5,
    });
  });

  it("formats what it parses (sorted, header kept)", () => {
    const f = parseExpectations(TEXT);
    expect(formatExpectations(f)).toBe(
      "# Expected failures of qemu-10.0\n# second header line\nqemu.sequence.directIoOneFd:run  # crashed: exited by signal SIGSEGV\nwriter.header.pageSize8192:read\n",
    );
  });

  it("refuses duplicates and ids without a role", () => {
    expect(() => parseExpectations("a.b:read\na.b:read\n", "f.txt")).toThrow(
      new ExpectationFileError("f.txt:2: a.b:read is listed twice"),
    );
    expect(() => parseExpectations("a.b\n", "f.txt")).toThrow(/f.txt:1: "a.b" is not a result id/);
  });

  it("matches results: unexpected failure, unexpected pass, changed message, listed skip", () => {
    const entry = { id: "x.y:read", line: 1, messagePrefix: "crashed:" };
    expect(matchExpectation("pass", "", undefined)).toEqual({ expected: "pass", ok: true });
    expect(matchExpectation("nonstrict", "m", undefined)).toEqual({ expected: "pass", ok: true });
    expect(matchExpectation("skip", "no QEMU", undefined)).toEqual({ expected: "pass", ok: true });
    expect(matchExpectation("fail", "boom", undefined)).toEqual({
      expected: "pass",
      ok: false,
      problem: "unexpected failure",
    });
    expect(matchExpectation("fail", "crashed: exited by signal SIGSEGV", entry)).toEqual({
      expected: "fail",
      expectedMessage: "crashed:",
      ok: true,
    });
    expect(matchExpectation("fail", "accepted an invalid file", entry).problem).toBe("message changed");
    expect(matchExpectation("pass", "", entry).problem).toBe("unexpected pass");
    expect(matchExpectation("nonstrict", "m", entry).problem).toBe("unexpected pass");
    expect(matchExpectation("skip", "no QEMU", entry).problem).toBe("listed but skipped");
    expect(matchExpectation("fail", "anything", { id: "x.y:read", line: 1 }).ok).toBe(true);
  });

  it("rewrites the list from a run and keeps entries that did not run", () => {
    const old = parseExpectations("# h\na.b:read  # old\nc.d:read\ne.f:read  # kept\n");
    const next = updatedExpectations(
      old,
      [
        { id: "a.b:read", status: "fail", message: "new message" },
        { id: "c.d:read", status: "pass", message: "" },
        { id: "e.f:read", status: "skip", message: "no QEMU" },
        { id: "g.h:write", status: "fail", message: "bytes differ" },
      ],
      ["# default"],
    );
    expect(formatExpectations(next)).toBe(
      "# h\na.b:read  # new message\ne.f:read  # kept\ng.h:write  # bytes differ\n",
    );
  });
});

describe("--cases patterns", () => {
  it("matches globs and dotted descendants", () => {
    const m = idMatcher("qemu.none.spec8,*.truncated.*");
    expect(m("qemu.none.spec8")).toBe(true);
    expect(m("qemu.none.spec8.multifd2")).toBe(true);
    expect(m("qemu.none.spec8x")).toBe(false);
    expect(m("writer.truncated.eof")).toBe(true);
    expect(m("writer.header.version0")).toBe(false);
    expect(idMatcher(undefined)("anything.at.all")).toBe(true);
    expect(idMatcher(" , ")("x.y")).toBe(true);
  });
});

function result(over: Partial<ConformanceResult>): ConformanceResult {
  return {
    id: "writer.x.y:read",
    case: "writer.x.y",
    role: "read",
    implementation: "qemu-10.0.2",
    kind: "qemu",
    status: "pass",
    message: "",
    expected: "pass",
    ok: true,
    durationMs: 12,
    ...over,
  };
}

const OUTCOME: RunOutcome = {
  results: [
    result({}),
    result({
      id: "a.b:read",
      case: "a.b",
      status: "fail",
      message: 'rejected with "x<y>&\'z"',
      ok: false,
      problem: "unexpected failure",
    }),
    result({
      id: "c.d:run",
      case: "c.d",
      role: "run",
      status: "fail",
      message: "crashed: exited by signal SIGSEGV",
      expected: "fail",
      expectedMessage: "crashed:",
    }),
    result({ id: "e.f:read", case: "e.f", status: "skip", message: "no QEMU" }),
    result({
      id: "g.h:check",
      case: "g.h",
      role: "check",
      implementation: "oracle",
      kind: "oracle",
      status: "nonstrict",
      message: "also reported x",
    }),
  ],
  stale: [{ implementation: "qemu-10.0.2", id: "gone.case:read", file: "expectations/qemu-10.0.txt" }],
  expectationFiles: [],
  cases: 5,
  durationMs: 1234,
};

describe("reporters", () => {
  it("escapes XML text", () => {
    expect(xmlEscape(`a<b>&"c"'d'\u0001`)).toBe("a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
  });

  it("writes JUnit with one testcase per result, failures for mismatches and stale entries", () => {
    const xml = junitReport(OUTCOME);
    expect(
      xml.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="mrc conformance" tests="6" failures="2" errors="0" skipped="1"',
      ),
    ).toBe(true);
    expect(xml).toContain('<testcase classname="qemu-10.0.2" name="a.b:read" time="0.012">');
    expect(xml).toContain("unexpected failure: rejected with &quot;x&lt;y&gt;&amp;&apos;z&quot;");
    expect(xml).toContain("<system-out>expected failure: crashed: exited by signal SIGSEGV</system-out>");
    expect(xml).toContain('<skipped message="no QEMU"/>');
    expect(xml).toContain('name="gone.case:read"');
    expect(xml.match(/<testcase /g)?.length).toBe(6);
  });

  it("writes the JSON report with run_info and one entry per result", () => {
    const info = { mrc_version: "0.1.0", qemu: null } as unknown as Parameters<typeof jsonReport>[0];
    const parsed = JSON.parse(jsonReport(info, OUTCOME)) as {
      run_info: unknown;
      results: Record<string, unknown>[];
      stale: unknown[];
    };
    expect(parsed.run_info).toEqual(info);
    expect(parsed.results).toHaveLength(5);
    expect(parsed.results[2]).toMatchObject({
      id: "c.d:run",
      implementation: "qemu-10.0.2",
      status: "fail",
      expected: "fail",
      message: "crashed: exited by signal SIGSEGV",
      duration_ms: 12,
    });
    expect(parsed.stale).toHaveLength(1);
  });

  it("summarises counts and lists what did not match", () => {
    const text = humanReport(OUTCOME, { qemu: null, qemu_missing: "no qemu" });
    expect(text).toContain("qemu-10.0.2       1 pass    0 nonstrict    2 fail (1 expected)    1 skip");
    expect(text).toContain("qemu-10.0.2 a.b:read: unexpected failure");
    expect(text).toContain("qemu-10.0.2 gone.case:read (expectations/qemu-10.0.txt)");
    expect(text.trimEnd().endsWith("FAILED")).toBe(true);
  });
});
