// classify(case, observation) without QEMU: every branch of the verdict table, on hand-made cases.
import { describe, expect, it } from "vitest";
import { classify, classifyFindings } from "../../src/conformance/classify.js";
import type { Expectation, FileCase, SequenceCase } from "../../src/conformance/model.js";
import type { Observation, ReadResult, WriteResult } from "../../src/conformance/results.js";

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);
const SHA_FILE = "c".repeat(64);

function fileCase(expect: Expectation, compare: "bytes" | "ram" | "validity" = "bytes"): FileCase {
  return {
    id: "test.case",
    kind: "file",
    description: "a hand-made case",
    checks: ["spec 2.3"],
    params: {
      machine: "none",
      blocks: [{ id: "r", size: "0x800000", pattern: { kind: "spec8" } }],
      capabilities: { "mapped-ram": true },
      parameters: {},
    },
    provenance: {
      by: "qemu",
      version: "10.0.2",
      versionText: "QEMU emulator version 10.0.2",
      argv: [],
      qmp: [],
      compare,
    },
    file: {
      blob: `blobs/${SHA_FILE}.mrx.gz`,
      size: 9438450,
      sha256: SHA_FILE,
      offset: "0x0",
      ...(compare === "ram" ? { prefix: { end: "0x900000", sha256: SHA_B } } : {}),
    },
    expect,
  };
}

const LAYOUT = {
  partSections: 1,
  blocks: [
    {
      idstr: "r",
      usedLength: "0x800000",
      headerOffset: "0x63",
      bitmapOffset: "0x7f",
      pagesOffset: "0x100000",
      pagesPresent: 1486,
    },
  ],
};
const VALID: Expectation = {
  verdict: "valid",
  findings: [],
  layout: LAYOUT,
  ram: [{ idstr: "r", usedLength: "0x800000", sha256: SHA_A, source: "pattern" }],
};
const NONSTRICT: Expectation = { ...VALID, verdict: "nonstrict", findings: ["ram.header.version.zero"] };
const INVALID: Expectation = {
  verdict: "invalid",
  findings: ["ram.header.version.unsupported"],
  reader: { code: "ERR_UNSUPPORTED_VERSION" },
  qemu: { errorDesc: "load of migration failed: Invalid argument", stderrIncludes: "version not supported" },
};

const loaded = (sha = SHA_A, pagesOffset = "0x100000"): ReadResult => ({
  kind: "loaded",
  layout: [{ idstr: "r", usedLength: "0x800000", headerOffset: "0x63", bitmapOffset: "0x7f", pagesOffset }],
  ram: [{ idstr: "r", sha256: sha }],
  coverage: "all",
});
const read = (result: ReadResult, implementation: "reference" | "qemu" = "reference"): Observation => ({
  role: "read",
  implementation,
  result,
});
const write = (result: WriteResult, implementation: "reference" | "qemu" = "qemu"): Observation => ({
  role: "write",
  implementation,
  result,
});

describe("classify: readers", () => {
  it("passes a valid file loaded into the expected layout and RAM", () => {
    expect(classify(fileCase(VALID), read(loaded()))).toEqual({ status: "pass", message: "" });
  });

  it("fails wrong RAM, a wrong layout, and a block that is missing", () => {
    expect(classify(fileCase(VALID), read(loaded(SHA_B)))).toEqual({
      status: "fail",
      message: 'wrong RAM: RAM of block "r" differs from the expected contents',
    });
    expect(classify(fileCase(VALID), read(loaded(SHA_A, "0x200000"))).message).toBe(
      'wrong layout: block "r" pagesOffset 0x200000, expected 0x100000',
    );
    const none: ReadResult = { kind: "loaded", ram: [], coverage: "all" };
    expect(classify(fileCase(VALID), read(none)).message).toBe('wrong RAM: block "r" was not loaded');
  });

  it("compares only the blocks a partial reader (QEMU) exposes", () => {
    const partial: ReadResult = { kind: "loaded", ram: [], coverage: "some" };
    expect(classify(fileCase(VALID), read(partial, "qemu")).status).toBe("pass");
  });

  it("fails a refused valid file, and calls a refused nonstrict file nonstrict", () => {
    const refused: ReadResult = { kind: "rejected", code: "ERR_TRUNCATED", message: "cannot decode x" };
    expect(classify(fileCase(VALID), read(refused))).toEqual({
      status: "fail",
      message: "rejected a valid file: ERR_TRUNCATED: cannot decode x",
    });
    expect(classify(fileCase(NONSTRICT), read(refused))).toEqual({
      status: "nonstrict",
      message: "refused a nonstrict file: ERR_TRUNCATED: cannot decode x",
    });
    expect(classify(fileCase(NONSTRICT), read(loaded())).status).toBe("pass");
    expect(classify(fileCase(NONSTRICT), read(loaded(SHA_B))).status).toBe("fail");
  });

  it("fails an accepted invalid file", () => {
    expect(classify(fileCase(INVALID), read(loaded()))).toEqual({
      status: "fail",
      message: "accepted an invalid file",
    });
  });

  it("checks the reference reader's error code on an invalid file", () => {
    const right: ReadResult = { kind: "rejected", code: "ERR_UNSUPPORTED_VERSION", message: "m" };
    const wrong: ReadResult = { kind: "rejected", code: "ERR_TRUNCATED", message: "m" };
    expect(classify(fileCase(INVALID), read(right)).status).toBe("pass");
    expect(classify(fileCase(INVALID), read(wrong))).toEqual({
      status: "fail",
      message: "rejected with ERR_TRUNCATED, expected ERR_UNSUPPORTED_VERSION",
    });
  });

  it("checks QEMU's error-desc exactly and its stderr for the expected line", () => {
    const desc = "load of migration failed: Invalid argument";
    const ok: ReadResult = {
      kind: "rejected",
      message: desc,
      errorDesc: desc,
      stderr: "qemu-system-x86_64: version not supported (x)\n",
    };
    expect(classify(fileCase(INVALID), read(ok, "qemu")).status).toBe("pass");
    const otherDesc: ReadResult = { ...ok, errorDesc: "load of migration failed: Input/output error" };
    expect(classify(fileCase(INVALID), read(otherDesc, "qemu")).message).toBe(
      `rejected with "load of migration failed: Input/output error", expected "${desc}"`,
    );
    const silent: ReadResult = { ...ok, stderr: "" };
    expect(classify(fileCase(INVALID), read(silent, "qemu")).message).toBe(
      'rejected without printing "version not supported"',
    );
  });

  it("reports a crash with its signal", () => {
    const crashed: ReadResult = { kind: "crashed", signal: "SIGSEGV", message: "cannot run qemu: crashed" };
    expect(classify(fileCase(VALID), read(crashed, "qemu"))).toEqual({
      status: "fail",
      message: "crashed: exited by signal SIGSEGV",
    });
    expect(classify(fileCase(INVALID), read(crashed, "qemu")).status).toBe("fail");
  });
});

describe("classify: oracle findings", () => {
  const sev = (id: string) => (id.includes("zero") || id.includes("notMib") ? "nonstrict" : "fail");
  const f = (id: string) => ({ id, severity: sev(id) as "fail" | "nonstrict" });

  it("passes the exact expected set", () => {
    expect(classifyFindings(NONSTRICT, [f("ram.header.version.zero")], sev).status).toBe("pass");
    expect(classifyFindings(VALID, [{ id: "device.cannotWalk", severity: "info" }], sev).status).toBe("pass");
  });

  it("fails a missed finding, and names what was reported instead", () => {
    expect(classifyFindings(INVALID, [f("stream.truncated")], sev)).toEqual({
      status: "fail",
      message: "missed ram.header.version.unsupported; reported stream.truncated",
    });
  });

  it("allows findings that follow an expected fail (cascades)", () => {
    expect(
      classifyFindings(INVALID, [f("ram.header.version.unsupported"), f("ram.pages.outOfFile")], sev).status,
    ).toBe("pass");
  });

  it("fails an extra fail on a file QEMU accepts; an extra nonstrict is nonstrict", () => {
    expect(classifyFindings(VALID, [f("ram.layout.overlap")], sev)).toEqual({
      status: "fail",
      message: "reported ram.layout.overlap on a file QEMU 10.0 accepts",
    });
    expect(classifyFindings(VALID, [f("ram.header.pagesOffset.notMibAligned")], sev)).toEqual({
      status: "nonstrict",
      message: "also reported ram.header.pagesOffset.notMibAligned",
    });
  });

  it("requires expected info findings", () => {
    const e: Expectation = { ...VALID, info: ["ram.pages.staleUnderClearBit"] };
    expect(classifyFindings(e, [], sev)).toEqual({
      status: "fail",
      message: "missed info ram.pages.staleUnderClearBit",
    });
  });

  it("is what classify uses for the check role", () => {
    const o: Observation = {
      role: "check",
      implementation: "oracle",
      result: { kind: "checked", findings: [f("ram.header.version.unsupported")] },
    };
    expect(classify(fileCase(INVALID), o).status).toBe("pass");
  });
});

describe("classify: writers", () => {
  const written = (
    sha: string,
    extra: Partial<Extract<WriteResult, { kind: "written" }>> = {},
  ): WriteResult => ({
    kind: "written",
    sha256: sha,
    size: 9438450,
    ...extra,
  });

  it("compares bytes, tolerating only the number of empty SECTION_PART records", () => {
    expect(classify(fileCase(VALID), write(written(SHA_FILE))).status).toBe("pass");
    expect(
      classify(fileCase(VALID), write(written(SHA_A, { firstDifference: 0x90001f, size: 9438468 }))),
    ).toEqual({
      status: "fail",
      message: "bytes differ from the golden (9438468 bytes, golden 9438450, first difference at 0x90001f)",
    });
    const parts = written(SHA_A, {
      firstDifference: 0x90001f,
      canonical: { sha256: SHA_B, parts: 2, goldenSha256: SHA_B, goldenParts: 1 },
    });
    expect(classify(fileCase(VALID), write(parts))).toEqual({
      status: "pass",
      message: "same bytes apart from the number of empty SECTION_PART records (2, golden 1)",
    });
  });

  it("compare: ram checks the RAM image digest and the oracle", () => {
    const c = fileCase(VALID, "ram");
    expect(
      classify(c, write(written(SHA_A, { prefixSha256: SHA_B, validity: { findings: [] } }))).status,
    ).toBe("pass");
    expect(
      classify(c, write(written(SHA_A, { prefixSha256: SHA_A, validity: { findings: [] } }))).message,
    ).toBe("RAM image (bytes before 0x900000) differs from the golden");
    const broken = written(SHA_A, {
      prefixSha256: SHA_B,
      validity: { findings: [{ id: "section.footer.missing", severity: "fail" }] },
    });
    expect(classify(c, write(broken)).message).toBe("the new file is not valid: section.footer.missing");
  });

  it("compare: validity needs a valid file that loads into the expected RAM", () => {
    const c = fileCase(VALID, "validity");
    expect(classify(c, write(written(SHA_A, { validity: { findings: [], read: loaded() } }))).status).toBe(
      "pass",
    );
    expect(
      classify(c, write(written(SHA_A, { validity: { findings: [], read: loaded(SHA_B) } }))).message,
    ).toBe(
      'the new file does not load as expected: wrong RAM: RAM of block "r" differs from the expected contents',
    );
  });

  it("fails a failed or crashed save", () => {
    expect(classify(fileCase(VALID), write({ kind: "failed", message: "Failed to write bitmap" }))).toEqual({
      status: "fail",
      message: "save failed: Failed to write bitmap",
    });
    expect(
      classify(fileCase(VALID), write({ kind: "crashed", signal: "SIGABRT", message: "x" })).message,
    ).toBe("crashed: exited by signal SIGABRT");
  });
});

describe("classify: sequences and skips", () => {
  const seq: SequenceCase = {
    id: "qemu.sequence.test",
    kind: "sequence",
    description: "d",
    checks: [],
    params: { machine: "none", fds: [], steps: [], waitForMigration: false },
    provenance: { by: "spec", source: "s" },
    expect: { survives: true },
  };

  it("fails a crashed QEMU with the signal, passes a refusal", () => {
    expect(
      classify(seq, {
        role: "run",
        implementation: "qemu",
        result: { kind: "crashed", signal: "SIGSEGV", message: "m" },
      }),
    ).toEqual({
      status: "fail",
      message: "crashed: exited by signal SIGSEGV",
    });
    expect(
      classify(seq, {
        role: "run",
        implementation: "qemu",
        result: { kind: "survived", outcome: "refused: x" },
      }),
    ).toEqual({
      status: "pass",
      message: "refused: x",
    });
  });

  it("keeps the reason of a skip", () => {
    expect(
      classify(seq, {
        role: "run",
        implementation: "qemu",
        skip: "QEMU 9.0.0: direct-io is new in QEMU 9.1",
      }),
    ).toEqual({
      status: "skip",
      message: "QEMU 9.0.0: direct-io is new in QEMU 9.1",
    });
  });
});
