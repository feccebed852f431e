// The runner end to end on the real corpus: without QEMU (reference + oracle), then with QEMU — the
// expected failures of expectations/qemu-10.0.txt (the direct-io crash among them), and a QEMU that
// breaks the format (-global migration.send-section-footer=off) failing the run.
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runConformanceCommand } from "../../src/cli/commands/conformance-run.js";
import { idMatcher } from "../../src/conformance/match.js";
import { exitCodeOf, runConformance } from "../../src/conformance/runner.js";
import { mrc } from "../helpers/cli.js";
import { describeQemu, suiteQemu } from "../helpers/qemu.js";
import { scratchDir } from "./scratch.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CORPUS = resolve(ROOT, "golden");
const EXPECTATIONS = resolve(ROOT, "expectations");

const scratch = scratchDir("mrc-runner-test-");
const expectationsDir = scratch.expectationsDir;

describe("runner without QEMU", () => {
  it("runs reference and oracle over writer-made cases and matches an empty expectation list", async () => {
    const planned: number[] = [];
    let seen = 0;
    const outcome = await runConformance({
      corpusDir: CORPUS,
      expectationsDir: await expectationsDir("empty", {}),
      implementations: new Set(["reference", "oracle"]),
      selected: idMatcher("writer.header.*,writer.truncated.eof"),
      qemu: { missing: "not in this test" },
      onPlanned: (n) => planned.push(n),
      onResult: () => {
        seen++;
      },
    });
    // the progress bar's total: announced once, before any result, and equal to what the run gives
    expect(planned).toEqual([21]);
    expect(seen).toBe(21);
    expect(outcome.cases).toBe(7);
    // reference read + write and oracle check for each case
    expect(outcome.results).toHaveLength(21);
    expect(outcome.results.filter((r) => !r.ok)).toEqual([]);
    const r = outcome.results.find(
      (x) => x.id === "writer.header.pageSize8192:read" && x.implementation === "reference",
    );
    expect(r).toMatchObject({ status: "pass", expected: "pass", ok: true });
    expect(exitCodeOf(outcome)).toBe(0);
  });

  it("fails the run on an unexpected pass and on a listed id that did not run", async () => {
    const outcome = await runConformance({
      corpusDir: CORPUS,
      expectationsDir: await expectationsDir("stale", {
        "reference.txt": "writer.header.version0:read  # refused\nwriter.header.version0:check\n",
      }),
      implementations: new Set(["reference"]),
      selected: idMatcher("writer.header.version0"),
      qemu: { missing: "not in this test" },
    });
    const read = outcome.results.find((x) => x.id === "writer.header.version0:read");
    expect(read).toMatchObject({ status: "pass", expected: "fail", ok: false, problem: "unexpected pass" });
    expect(outcome.stale.map((s) => s.id)).toEqual(["writer.header.version0:check"]);
    expect(exitCodeOf(outcome)).toBe(1);
  });

  it("reports QEMU results as skipped, with the reason, when there is no QEMU", async () => {
    const outcome = await runConformance({
      corpusDir: CORPUS,
      expectationsDir: EXPECTATIONS,
      implementations: new Set(["qemu"]),
      selected: idMatcher("qemu.sequence.directIoOneFd,qemu.none.fill1m"),
      qemu: { missing: "no qemu-system-x86_64 on PATH (give --qemu PATH)" },
    });
    expect(outcome.results.map((r) => [r.id, r.status, r.message])).toEqual([
      ["qemu.none.fill1m:read", "skip", "no qemu-system-x86_64 on PATH (give --qemu PATH)"],
      ["qemu.none.fill1m:write", "skip", "no qemu-system-x86_64 on PATH (give --qemu PATH)"],
      ["qemu.sequence.directIoOneFd:run", "skip", "no qemu-system-x86_64 on PATH (give --qemu PATH)"],
    ]);
    expect(exitCodeOf(outcome)).toBe(0);
  });

  it("writes the JSON report and JUnit XML from the command", async () => {
    const json = join(scratch.path, "report.json");
    const junit = join(scratch.path, "report.xml");
    let out = "";
    const code = await runConformanceCommand(
      {
        qemu: false,
        qemuArg: [],
        cases: "writer.header.version*",
        implementations: "reference,oracle",
        reportJson: json,
        junit,
        jobs: 2,
        quiet: true,
        expectationsDir: await expectationsDir("cmd", {}),
      },
      (s) => {
        out += s;
      },
    );
    expect(code).toBe(0);
    expect(out).toContain("OK: every result matches its expectation");
    const report = JSON.parse(await readFile(json, "utf8")) as {
      run_info: Record<string, unknown>;
      results: Record<string, unknown>[];
    };
    expect(Object.keys(report.run_info)).toEqual(
      expect.arrayContaining(["host", "kernel", "filesystem", "qemu", "node", "cases", "expectation_files"]),
    );
    expect(report.run_info.qemu).toBeNull();
    expect(report.results).toHaveLength(6);
    for (const r of report.results) {
      expect(Object.keys(r)).toEqual(
        expect.arrayContaining(["id", "implementation", "status", "expected", "message", "duration_ms"]),
      );
    }
    const xml = await readFile(junit, "utf8");
    expect(xml.match(/<testcase /g)?.length).toBe(6);
  });

  it("--update-expectations rewrites the list from the run", async () => {
    const d = await expectationsDir("update", {
      "reference.txt": "# kept header\nwriter.header.version0:read  # stale entry\n",
    });
    const flags = {
      qemu: false as const,
      qemuArg: [],
      cases: "writer.header.version0",
      implementations: "reference",
      jobs: 1,
      quiet: true,
      expectationsDir: d,
    };
    const sink = () => undefined;
    expect(await runConformanceCommand(flags, sink)).toBe(1);
    expect(await runConformanceCommand({ ...flags, updateExpectations: true }, sink)).toBe(0);
    expect(await readFile(join(d, "reference.txt"), "utf8")).toBe("# kept header\n");
    expect(await runConformanceCommand(flags, sink)).toBe(0);
  });

  it("exits 2 on usage errors", async () => {
    expect((await mrc(["conformance", "--implementations", "qemu,bogus"])).exitCode).toBe(2);
    expect(
      (await mrc(["conformance", "--qemu", join(scratch.path, "no-such-qemu"), "--cases", "x.y"])).exitCode,
    ).toBe(2);
    expect((await mrc(["conformance", "--no-qemu", "--qemu-arg", "-S"])).exitCode).toBe(2);
  });
});

describeQemu("runner with QEMU", () => {
  it("matches expectations/qemu-10.0.txt: the direct-io crash and the page_size hole are expected failures", async () => {
    const outcome = await runConformance({
      corpusDir: CORPUS,
      expectationsDir: EXPECTATIONS,
      implementations: new Set(["qemu"]),
      selected: idMatcher("qemu.sequence.*,writer.header.*,qemu.none.spec8.libvirt"),
      qemu: { binary: suiteQemu(), extraArgs: [] },
    });
    // each unexpected result as one line, so a failure names its case and what happened
    const bad = outcome.results.filter((r) => !r.ok).map((r) => `${r.id}: ${r.status}: ${r.message ?? ""}`);
    expect(bad).toEqual([]);
    const crash = outcome.results.find((r) => r.id === "qemu.sequence.directIoOneFd:run");
    expect(crash).toMatchObject({
      status: "fail",
      message: "crashed: exited by signal SIGSEGV",
      expected: "fail",
      ok: true,
    });
    const control = outcome.results.find((r) => r.id === "qemu.sequence.oneFdNoDirectIo:run");
    expect(control).toMatchObject({ status: "pass", message: "migration completed" });
    expect(outcome.results.find((r) => r.id === "writer.header.pageSize8192:read")).toMatchObject({
      status: "fail",
      message: "accepted an invalid file",
      ok: true,
    });
    expect(exitCodeOf(outcome)).toBe(0);
  });

  it("fails the run for a QEMU that breaks the format (send-section-footer=off)", async () => {
    const outcome = await runConformance({
      corpusDir: CORPUS,
      expectationsDir: EXPECTATIONS,
      implementations: new Set(["qemu"]),
      selected: idMatcher("qemu.none.spec8,qemu.pc.stripes16m"),
      qemu: { binary: suiteQemu(), extraArgs: ["-global", "migration.send-section-footer=off"] },
    });
    const byId = new Map(
      outcome.results
        .filter((r) => r.case === "qemu.none.spec8" || r.case === "qemu.pc.stripes16m")
        .map((r) => [r.id, r]),
    );
    expect(byId.get("qemu.none.spec8:read")).toMatchObject({
      status: "fail",
      message: "rejected a valid file: load of migration failed: Invalid argument",
    });
    expect(byId.get("qemu.none.spec8:write")?.message).toMatch(
      /^bytes differ from the golden \(\d+ bytes, golden 9438450, first difference at 0x900008\)$/,
    );
    expect(byId.get("qemu.pc.stripes16m:write")?.message).toBe(
      "the new file is not valid: section.footer.missing",
    );
    expect(exitCodeOf(outcome)).toBe(1);
  });

  it("runs a wrapper script given as --qemu (how to test a patched build) and exits 1", async () => {
    const wrapper = join(scratch.path, "qemu-no-footers");
    await writeFile(
      wrapper,
      `#!/bin/sh\nexec '${suiteQemu().path}' "$@" -global migration.send-section-footer=off\n`,
    );
    await chmod(wrapper, 0o755);
    const r = await mrc(
      ["conformance", "-q", "--qemu", wrapper, "--cases", "qemu.none.fill1m", "--implementations", "qemu"],
      120_000,
    );
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(
      "qemu-10.0.2 qemu.none.fill1m:read: unexpected failure: rejected a valid file",
    );
  });
});
