// The pass/fail decision of the caps suites, without QEMU: comparison per call, expectation entries and
// the ratchet (unexpected pass, unexpected failure, changed text and stale entries all fail).
import { describe, expect, it } from "vitest";
import type { CapsCase } from "./cases.js";
import {
  type CaseRun,
  classify,
  compareRuns,
  isFailure,
  type Mismatch,
  parseExpectations,
  runModelCase,
  staleExpectations,
} from "./classify.js";

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

describe("expectations", () => {
  const text = "# header\n\ncaps.a # Cannot use\ncaps.b\n  # indented comment\ncaps.c # x # y\n";
  const entries = parseExpectations(text);

  it("parses ids, optional prefixes and line numbers", () => {
    expect(entries).toEqual([
      { id: "caps.a", prefix: "Cannot use", line: 3 },
      { id: "caps.b", line: 4 },
      { id: "caps.c", prefix: "x # y", line: 6 },
    ]);
  });

  it("classifies every combination", () => {
    const [a, b] = entries;
    expect(classify(undefined, undefined)).toEqual({ kind: "pass" });
    expect(classify(undefined, b).kind).toBe("unexpected-pass");
    expect(classify(mismatch, undefined).kind).toBe("unexpected-failure");
    expect(classify(mismatch, a).kind).toBe("expected-failure");
    expect(classify(mismatch, b).kind).toBe("expected-failure");
    expect(classify({ ...mismatch, qemu: "Other text" }, a).kind).toBe("changed-text");
    expect(isFailure(classify(mismatch, a))).toBe(false);
    expect(isFailure(classify(undefined, b))).toBe(true);
    expect(isFailure(classify({ ...mismatch, qemu: "Other" }, a))).toBe(true);
  });

  it("finds entries whose case did not run", () => {
    expect(staleExpectations(entries, new Set(["caps.a", "caps.c"])).map((e) => e.id)).toEqual(["caps.b"]);
  });
});
