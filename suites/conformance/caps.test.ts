// The capability cases in `mrc conformance`: without QEMU, through a fake QEMU whose answers the test
// chooses (a model that answers differently from "QEMU" fails the run; the expectation file
// qemu-10.0-caps.txt is honoured like qemu-10.0.txt; no QEMU or another version skips them); then the
// built CLI against the real QEMU.
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runConformanceCommand } from "../../src/cli/commands/conformance-run.js";
import { type CapsCase, incomingMatrix, outgoingMatrix } from "../../src/conformance/caps/cases.js";
import { type CaseRun, compareRuns, runModelCase } from "../../src/conformance/caps/compare.js";
import { PINNED } from "../../src/conformance/caps/pinned.js";
import { sequenceCases } from "../../src/conformance/caps/sequences.js";
import { type CapsRunner, capsSuite } from "../../src/conformance/caps/suite.js";
import { idMatcher } from "../../src/conformance/match.js";
import { humanReport } from "../../src/conformance/report.js";
import { exitCodeOf, type RunnerOptions, runConformance } from "../../src/conformance/runner.js";
import type { QemuBinary } from "../../src/qemu/index.js";
import { mrc } from "../helpers/cli.js";
import { describeQemu, qemu as foundQemu } from "../helpers/qemu.js";
import { scratchDir } from "./scratch.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CORPUS = resolve(ROOT, "golden");

const fakeQemu = (major: number, minor: number, micro: number): QemuBinary => ({
  path: "/nonexistent/qemu-system-x86_64",
  version: { major, minor, micro },
  text: `QEMU emulator version ${major}.${minor}.${micro}\n`,
  hasMappedRam: true,
});

/** mapped-ram over tcp: the model refuses with this text at step 1 (migrate). */
const TAMPERED = "caps.matrix.mapped-ram.tcp.none";
const MODEL_TEXT = "Migration requires seekable transport (e.g. file)";
const QEMU_TEXT = "Mapped-ram needs a seekable transport";
const FAIL_MESSAGE = `step 1 (migrate): qemu "${QEMU_TEXT}", model "${MODEL_TEXT}"`;

/**
 * A fake QEMU: it answers every call as the model does, except that for the ids in `tamper` it refuses
 * the last call the model ran with QEMU_TEXT — i.e. the model's answer there is wrong.
 */
function fakeRunner(tamper: ReadonlySet<string>, log: CapsCase[][] = []): CapsRunner {
  return async (cases, _ctx, onResult) => {
    log.push([...cases]);
    for (const c of cases) {
      const model = runModelCase(c, "/tmp/fake-qemu-dir");
      let qemu: CaseRun = model.run;
      if (tamper.has(c.id)) {
        qemu = { results: [...model.run.results.slice(0, -1), { ok: false, error: QEMU_TEXT }] };
      }
      const mismatch = compareRuns(c, model.run, qemu);
      onResult({ id: c.id, model: model.run, qemu, mismatch, restarted: false, durationMs: 1 });
    }
  };
}

const scratch = scratchDir("mrc-caps-conformance-");
const expectationsDir = scratch.expectationsDir;

async function runCaps(over: Partial<RunnerOptions> & Pick<RunnerOptions, "qemu">, tamper = [TAMPERED]) {
  return runConformance({
    corpusDir: CORPUS,
    expectationsDir: await expectationsDir("empty", {}),
    selected: idMatcher("caps.matrix.mapped-ram.tcp,caps.pinned.paramQuirk.tls"),
    extraSuites: [capsSuite({ sequences: 0, runner: fakeRunner(new Set(tamper)) })],
    ...over,
  });
}

describe("capability cases in the runner (fake QEMU)", () => {
  it("lists the fixed cases and the generated sequences as case ids", async () => {
    const ids = await capsSuite({ sequences: 3, seed: 7 }).caseIds();
    const fixed = [...outgoingMatrix(), ...incomingMatrix(), ...PINNED].map((c) => c.id);
    expect(ids).toEqual([...fixed, ...sequenceCases(7, 3).map((c) => c.id)]);
    expect(ids.slice(-3)).toEqual(["caps.seq.s7.0", "caps.seq.s7.1", "caps.seq.s7.2"]);
    expect(ids.filter(idMatcher("caps.*"))).toHaveLength(ids.length);
  });

  it("a model answer that differs from QEMU's is a fail and fails the run", async () => {
    const outcome = await runCaps({ qemu: { binary: fakeQemu(10, 0, 2), extraArgs: [] } });
    expect(outcome.results.map((r) => [r.id, r.status])).toEqual([
      ["caps.matrix.mapped-ram.tcp.none:caps", "fail"],
      ["caps.matrix.mapped-ram.tcp.zlib:caps", "pass"],
      ["caps.pinned.paramQuirk.tls:caps", "pass"],
    ]);
    expect(outcome.results[0]).toMatchObject({
      case: TAMPERED,
      role: "caps",
      implementation: "qemu-10.0.2:caps",
      kind: "qemu",
      message: FAIL_MESSAGE,
      expected: "pass",
      ok: false,
      problem: "unexpected failure",
    });
    expect(outcome.cases).toBe(3);
    expect(exitCodeOf(outcome)).toBe(1);
    const text = humanReport(outcome, { qemu: null });
    expect(text).toContain("  qemu-10.0.2:caps    2 pass    0 nonstrict    1 fail (0 expected)    0 skip");
    expect(text).toContain(`qemu-10.0.2:caps ${TAMPERED}:caps: unexpected failure: ${FAIL_MESSAGE}`);
    expect(text).toMatch(/FAILED\n$/);
  });

  it("honours expectations/qemu-<major>.<minor>-caps.txt like the QEMU list", async () => {
    const qemu = { binary: fakeQemu(10, 0, 2), extraArgs: [] };
    let n = 0;
    const listed = (text: string) => expectationsDir(`listed-${n++}`, { "qemu-10.0-caps.txt": text });
    // listed with the message prefix: an expected failure
    const d = await listed(`${TAMPERED}:caps  # step 1 (migrate): qemu "Mapped-ram needs\n`);
    const expected = await runCaps({ qemu, expectationsDir: d });
    expect(expected.results[0]).toMatchObject({ status: "fail", expected: "fail", ok: true });
    expect(expected.expectationFiles).toContainEqual(
      expect.objectContaining({ implementation: "qemu-10.0.2:caps", file: join(d, "qemu-10.0-caps.txt") }),
    );
    expect(exitCodeOf(expected)).toBe(0);
    // another message prefix: the failure changed
    const changed = await runCaps({ qemu, expectationsDir: await listed(`${TAMPERED}:caps  # step 0\n`) });
    expect(changed.results[0]).toMatchObject({ ok: false, problem: "message changed" });
    expect(exitCodeOf(changed)).toBe(1);
    // a listed case that now agrees: unexpected pass
    const fixed = await runCaps({ qemu, expectationsDir: await listed(`${TAMPERED}:caps\n`) }, []);
    expect(fixed.results[0]).toMatchObject({ status: "pass", ok: false, problem: "unexpected pass" });
    expect(exitCodeOf(fixed)).toBe(1);
    // a listed id that is selected but is no case: stale
    const stale = await runCaps({
      qemu,
      expectationsDir: await listed(`${TAMPERED}:caps\ncaps.matrix.mapped-ram.tcp.bogus:caps\n`),
    });
    expect(stale.stale.map((s) => [s.implementation, s.id])).toEqual([
      ["qemu-10.0.2:caps", "caps.matrix.mapped-ram.tcp.bogus:caps"],
    ]);
    expect(exitCodeOf(stale)).toBe(1);
    // the golden QEMU list does not apply to capability results
    const other = await runCaps({
      qemu,
      expectationsDir: await expectationsDir("golden-list", { "qemu-10.0.txt": `${TAMPERED}:caps\n` }),
    });
    expect(other.results[0]).toMatchObject({ ok: false, problem: "unexpected failure" });
  });

  it("skips every selected case, with the reason, when there is no QEMU or another version", async () => {
    const log: CapsCase[][] = [];
    const none = await runConformance({
      corpusDir: CORPUS,
      expectationsDir: await expectationsDir("empty", {}),
      selected: idMatcher("caps.pinned.paramQuirk"),
      qemu: { missing: "no qemu-system-x86_64 on PATH (give --qemu PATH)" },
      extraSuites: [capsSuite({ runner: fakeRunner(new Set(), log) })],
    });
    expect(none.results.map((r) => [r.id, r.implementation, r.status, r.message])).toEqual(
      PINNED.filter((c) => c.id.startsWith("caps.pinned.paramQuirk.")).map((c) => [
        `${c.id}:caps`,
        "qemu:caps",
        "skip",
        "no qemu-system-x86_64 on PATH (give --qemu PATH)",
      ]),
    );
    expect(none.results).toHaveLength(4);
    expect(exitCodeOf(none)).toBe(0);

    const old = await runConformance({
      corpusDir: CORPUS,
      expectationsDir: await expectationsDir("old", {
        "qemu-9.1-caps.txt": "caps.pinned.paramQuirk.tls:caps\n",
      }),
      selected: idMatcher("caps.pinned.paramQuirk.tls"),
      qemu: { binary: fakeQemu(9, 1, 0), extraArgs: [] },
      extraSuites: [capsSuite({ runner: fakeRunner(new Set(), log) })],
    });
    expect(old.results).toEqual([
      expect.objectContaining({
        id: "caps.pinned.paramQuirk.tls:caps",
        implementation: "qemu-9.1.0:caps",
        status: "skip",
        message: "QEMU 9.1.0: the capability model describes QEMU 10.0",
        ok: false,
        problem: "listed but skipped",
      }),
    ]);
    expect(exitCodeOf(old)).toBe(1);
    expect(log).toEqual([]);

    // not among --implementations: no capability results at all
    const refOnly = await runCaps({
      qemu: { binary: fakeQemu(10, 0, 2), extraArgs: [] },
      implementations: new Set(["reference", "oracle"]),
    });
    expect(refOnly.results).toEqual([]);
  });

  it("a harness error reports the cases it left undecided as failures", async () => {
    const broken: CapsRunner = async (cases, ctx, onResult) => {
      await fakeRunner(new Set())(cases.slice(0, 1), ctx, onResult);
      throw new Error("QEMU would not start");
    };
    const outcome = await runCaps({
      qemu: { binary: fakeQemu(10, 0, 2), extraArgs: [] },
      extraSuites: [capsSuite({ sequences: 0, runner: broken })],
    });
    expect(outcome.results.map((r) => [r.id, r.status, r.message])).toEqual([
      ["caps.matrix.mapped-ram.tcp.none:caps", "pass", ""],
      ["caps.matrix.mapped-ram.tcp.zlib:caps", "fail", "error: caps: QEMU would not start"],
      ["caps.pinned.paramQuirk.tls:caps", "fail", "error: caps: QEMU would not start"],
    ]);
    expect(exitCodeOf(outcome)).toBe(1);
  });

  it("the command takes --caps-sequences/--caps-seed, or MRC_CAPS_SEQUENCES/MRC_CAPS_SEED", async () => {
    const json = join(scratch.path, "seq.json");
    const flags = {
      qemu: false as const,
      qemuArg: [],
      cases: "caps.seq.*",
      jobs: 1,
      quiet: true,
      reportJson: json,
    };
    const ids = async () =>
      (JSON.parse(await readFile(json, "utf8")) as { results: { id: string; status: string }[] }).results.map(
        (r) => `${r.id} ${r.status}`,
      );
    const sink = () => undefined;
    expect(await runConformanceCommand({ ...flags, capsSequences: 2, capsSeed: 7 }, sink, {})).toBe(0);
    expect(await ids()).toEqual(["caps.seq.s7.0:caps skip", "caps.seq.s7.1:caps skip"]);
    const env = { MRC_CAPS_SEQUENCES: "3", MRC_CAPS_SEED: "11" };
    expect(await runConformanceCommand(flags, sink, env)).toBe(0);
    expect(await ids()).toEqual([
      "caps.seq.s11.0:caps skip",
      "caps.seq.s11.1:caps skip",
      "caps.seq.s11.2:caps skip",
    ]);
    expect(await runConformanceCommand({ ...flags, capsSequences: 1 }, sink, env)).toBe(0);
    expect(await ids()).toEqual(["caps.seq.s11.0:caps skip"]);
    expect(await runConformanceCommand(flags, sink, {})).toBe(0);
    expect(await ids()).toHaveLength(100);
    await expect(runConformanceCommand(flags, sink, { MRC_CAPS_SEQUENCES: "lots" })).rejects.toThrow(
      'MRC_CAPS_SEQUENCES: "lots" is not a whole number',
    );
    expect((await mrc(["conformance", "--no-qemu", "--caps-sequences", "-1"])).exitCode).toBe(2);
  });
});

describeQemu("capability cases in mrc conformance (real QEMU)", () => {
  const v = foundQemu?.version ?? { major: 0, minor: 0, micro: 0 };
  const is100 = v.major === 10 && v.minor === 0;
  const version = `${v.major}.${v.minor}.${v.micro}`;

  it("runs the selected capability cases as qemu-X.Y.Z:caps results in the JSON report", async () => {
    const json = join(scratch.path, "qemu-caps.json");
    const r = await mrc(
      [
        "conformance",
        "-q",
        "--cases",
        "caps.matrix.mapped-ram+multifd,caps.incoming.mapped-ram+multifd,caps.pinned.paramQuirk,caps.seq.*",
        "--caps-sequences",
        "5",
        "--report-json",
        json,
      ],
      120_000,
    );
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("OK: every result matches its expectation");
    const report = JSON.parse(await readFile(json, "utf8")) as {
      run_info: { cases: number; expectation_files: { implementation: string; file: string }[] };
      results: {
        id: string;
        case: string;
        role: string;
        implementation: string;
        status: string;
        ok: boolean;
      }[];
    };
    const want = [
      ...outgoingMatrix().filter((c) => c.id.startsWith("caps.matrix.mapped-ram+multifd.")),
      ...incomingMatrix().filter((c) => c.id.startsWith("caps.incoming.mapped-ram+multifd.")),
      ...PINNED.filter((c) => c.id.startsWith("caps.pinned.paramQuirk.")),
      ...sequenceCases(20250710, 5),
    ].map((c) => `${c.id}:caps`);
    expect(want).toHaveLength(29);
    expect(report.run_info.cases).toBe(29);
    expect(report.results.map((x) => x.id)).toEqual(want);
    for (const x of report.results) {
      expect(x).toMatchObject({
        role: "caps",
        implementation: `qemu-${version}:caps`,
        status: is100 ? "pass" : "skip",
        ok: true,
      });
    }
    expect(report.run_info.expectation_files).toContainEqual(
      expect.objectContaining({
        implementation: `qemu-${version}:caps`,
        file: resolve(ROOT, `expectations/qemu-${v.major}.${v.minor}-caps.txt`),
      }),
    );
  });

  it.skipIf(!is100)("an expected failure that QEMU and the model now agree on fails the run", async () => {
    const d = await expectationsDir("real-listed", {
      "qemu-10.0-caps.txt": "caps.pinned.paramQuirk.tls:caps  # step 2\n",
    });
    const r = await mrc(
      ["conformance", "-q", "--cases", "caps.pinned.paramQuirk.tls", "--expectations-dir", d],
      60_000,
    );
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(
      `qemu-${version}:caps caps.pinned.paramQuirk.tls:caps: unexpected pass: listed as an expected failure (step 2)`,
    );
  });
});
