// The pass/fail decision of the capability cases, without QEMU: comparison per call, the verdict
// `classify` gives a difference, and the expectation-file ratchet of expectations/qemu-10.0-caps.txt
// (an unexpected pass, an unexpected failure, a changed message and a stale entry all fail).
import { describe, expect, it } from "vitest";
import type { CapsCase } from "../../src/conformance/caps/cases.js";
import {
  type CaseRun,
  capsObservation,
  compareRuns,
  type Mismatch,
  runModelCase,
  withoutDir,
} from "../../src/conformance/caps/compare.js";
import { classify } from "../../src/conformance/classify.js";
import { matchExpectation, parseExpectations } from "../../src/conformance/expectations.js";
import type { Verdict } from "../../src/conformance/results.js";

const c: CapsCase = {
  id: "caps.test.one",
  description: "",
  role: "source",
  stopAtFirstError: true,
  steps: [
    { call: "migrate-set-capabilities", capabilities: [{ capability: "mapped-ram", state: true }] },
    { call: "migrate", uri: "tcp:127.0.0.1:1" },
  ],
};

const mismatch: Mismatch = {
  step: 1,
  call: "migrate",
  model: "accepted",
  qemu: "Cannot use TLS with mapped-ram",
};

describe("compareRuns", () => {
  const model: CaseRun = { results: [{ ok: true }, { ok: false, error: "A" }] };

  it("agrees on equal runs, and reports the first differing call", () => {
    expect(compareRuns(c, model, model)).toBeUndefined();
    expect(compareRuns(c, model, { results: [{ ok: true }, { ok: false, error: "B" }] })).toEqual({
      step: 1,
      call: "migrate",
      model: "A",
      qemu: "B",
    });
    expect(compareRuns(c, model, { results: [{ ok: true }] })).toMatchObject({ step: 1, qemu: "(not run)" });
  });

  it("compares settlements; a text the model leaves open is not compared", () => {
    const m: CaseRun = { results: [{ ok: true }, { ok: true, settlement: { status: "failed" } }] };
    const q: CaseRun = {
      results: [{ ok: true }, { ok: true, settlement: { status: "failed", error: "host" } }],
    };
    expect(compareRuns(c, m, q)).toBeUndefined();
    const m2: CaseRun = {
      results: [{ ok: true }, { ok: true, settlement: { status: "failed", error: "x" } }],
    };
    expect(compareRuns(c, m2, q)?.qemu).toBe("accepted, then failed: host");
    const q2: CaseRun = { results: [{ ok: true }, { ok: true, settlement: { status: "completed" } }] };
    expect(compareRuns(c, m, q2)).toBeDefined();
  });
});

describe("runModelCase", () => {
  it("stops at the first refused call when the case says so", () => {
    const run = runModelCase(c, "/tmp/d").run;
    expect(run.results).toEqual([
      { ok: true },
      { ok: false, error: "Migration requires seekable transport (e.g. file)" },
    ]);
  });

  it("substitutes {dir}", () => {
    const unix: CapsCase = { ...c, steps: [{ call: "migrate", uri: "unix:{dir}/s" }] };
    expect(runModelCase(unix, "/tmp/d").run.results[0]).toEqual({
      ok: true,
      settlement: { status: "failed", error: "Failed to connect to '/tmp/d/s': No such file or directory" },
    });
  });
});

describe("verdicts", () => {
  const verdict = (m: Mismatch | undefined): Verdict =>
    classify(
      { kind: "caps", id: c.id },
      { role: "caps", implementation: "qemu", result: capsObservation(m) },
    );

  it("agreement passes with no message; the first difference fails, QEMU's text first", () => {
    expect(verdict(undefined)).toEqual({ status: "pass", message: "" });
    expect(verdict(mismatch)).toEqual({
      status: "fail",
      message: 'step 1 (migrate): qemu "Cannot use TLS with mapped-ram", model "accepted"',
    });
  });

  it("QEMU's temp dir is written as {dir}, so messages do not depend on the run", () => {
    const m = withoutDir(
      { ...mismatch, qemu: "Failed to connect to '/tmp/q1/s'", model: "/tmp/q1/s" },
      "/tmp/q1",
    );
    expect(verdict(m).message).toBe(
      `step 1 (migrate): qemu "Failed to connect to '{dir}/s'", model "{dir}/s"`,
    );
  });
});

describe("expectations", () => {
  const text =
    '# header\n\ncaps.a:caps  # step 1 (migrate): qemu "Cannot use\ncaps.b:caps\n  # indented comment\ncaps.matrix.mapped-ram+multifd.file.none:caps\n';
  const entries = parseExpectations(text).entries;

  it("parses result ids (capability ids carry - and +), optional prefixes and line numbers", () => {
    expect([...entries.values()]).toEqual([
      { id: "caps.a:caps", messagePrefix: 'step 1 (migrate): qemu "Cannot use', line: 3 },
      { id: "caps.b:caps", line: 4 },
      { id: "caps.matrix.mapped-ram+multifd.file.none:caps", line: 6 },
    ]);
  });

  it("matches every combination", () => {
    const a = entries.get("caps.a:caps");
    const b = entries.get("caps.b:caps");
    const failed = 'step 1 (migrate): qemu "Cannot use TLS with mapped-ram", model "accepted"';
    const other = 'step 1 (migrate): qemu "Other text", model "accepted"';
    expect(matchExpectation("pass", "", undefined)).toEqual({ expected: "pass", ok: true });
    expect(matchExpectation("pass", "", b).problem).toBe("unexpected pass");
    expect(matchExpectation("fail", failed, undefined).problem).toBe("unexpected failure");
    expect(matchExpectation("fail", failed, a).ok).toBe(true);
    expect(matchExpectation("fail", failed, b).ok).toBe(true);
    expect(matchExpectation("fail", other, a).problem).toBe("message changed");
    expect(matchExpectation("skip", "no QEMU", a).problem).toBe("listed but skipped");
  });
});
