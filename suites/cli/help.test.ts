// Help and usage errors: every command lists its options with a meaning and shows an example; an
// unknown option, a missing argument or a missing command is one line on stderr and exit 2; the
// global --quiet works on either side of the command name; NO_COLOR is respected.
import { describe, expect, it } from "vitest";
import { loadCommands } from "../../src/cli/commands/index.js";
import { buildProgram } from "../../src/cli/main.js";
import { MRC_MAIN, mrc } from "../helpers/cli.js";
import { saveFile, specImage, tempDir } from "./fixtures.js";
import { run } from "./run.js";

const dir = await tempDir("help");

const all = await loadCommands([]);
const names = buildProgram(all)
  .commands.map((c) => c.name())
  .filter((n) => n !== "help");

const NO_COLOUR = { NO_COLOR: "1", FORCE_COLOR: undefined };

function oneLine(stderr: string): void {
  expect(stderr.endsWith("\n")).toBe(true);
  expect(stderr.slice(0, -1)).not.toContain("\n");
  expect(stderr).toMatch(/^mrc: usage: /);
}

describe("mrc --help", () => {
  it("lists every command, the global options, exit codes and examples; exit 0", async () => {
    const r = await run(["--help"], NO_COLOUR);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^  ${n} `, "m"));
    expect(r.stdout).toContain("-q, --quiet");
    expect(r.stdout).toContain(
      "Exit codes: 0 ok, 1 invalid input (diff: the files differ), 2 usage or I/O error.",
    );
    expect(r.stdout).toMatch(/^Examples:\n {2}mrc /m);
  });

  it("mrc help <command> is the same as mrc <command> --help", async () => {
    const a = await run(["help", "diff"], NO_COLOUR);
    const b = await run(["diff", "--help"], NO_COLOUR);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });
});

describe.each(names)("mrc %s", (name) => {
  it("--help lists every option with a one-line meaning and an example; exit 0", async () => {
    const r = await run([name, "--help"], NO_COLOUR);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const cmd = buildProgram(all).commands.find((c) => c.name() === name);
    for (const o of cmd?.options ?? []) {
      expect(o.description.length, `${o.flags} has a meaning`).toBeGreaterThan(0);
      expect(r.stdout).toContain(o.flags);
    }
    // "Example:" (or "Example (context):") and below it an indented mrc command line
    const at = r.stdout.search(/^Examples?\b/m);
    expect(at, "the help shows an example").toBeGreaterThanOrEqual(0);
    expect(r.stdout.slice(at)).toMatch(/^ {2}mrc /m);
  });

  it("an unknown option is one line on stderr and exit 2", async () => {
    const r = await run([name, "--no-such-option"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    oneLine(r.stderr);
    // commander reports a missing required option before an unknown one
    const cmd = buildProgram(all).commands.find((c) => c.name() === name);
    if (!cmd?.options.some((o) => o.mandatory))
      expect(r.stderr).toContain("unknown option '--no-such-option'");
  });
});

describe("which command modules a run loads", () => {
  it("only the named command's, after global options; none for --version; all for help or an unknown word", async () => {
    expect(all).toHaveLength(12);
    expect(await loadCommands(["-q", "extract", "x.mig", "-o", "d"])).toEqual([
      (await import("../../src/cli/commands/extract.js")).registerExtract,
    ]);
    expect(await loadCommands(["save", "--help"])).toEqual([
      (await import("../../src/cli/commands/save.js")).registerSave,
    ]);
    for (const argv of [["--version"], ["-V"], ["-q", "--version"]])
      expect(await loadCommands(argv)).toEqual([]);
    for (const argv of [
      ["--help"],
      ["help", "save"],
      ["--version", "--help"],
      ["-V", "inspec"],
      ["inspec"],
      [],
    ]) {
      expect(await loadCommands(argv)).toEqual(all);
    }
  });
});

describe("usage errors", () => {
  it.each([
    [["inspect"], "mrc: usage: missing required argument 'FILE'\n"],
    [["diff", "a.mig"], "mrc: usage: missing required argument 'B'\n"],
    [["extract", "x.mig"], "mrc: usage: required option '-o, --output <DIR>' not specified\n"],
    [["inspect", "x.mig", "--offset", "12Q"], undefined],
    [["inspect", "a", "b"], undefined],
    [["inspec"], "mrc: usage: unknown command 'inspec' (Did you mean inspect?)\n"],
    [[], "mrc: usage: missing command (see 'mrc --help')\n"],
  ])("mrc %j: one line, exit 2", async (argv, exact) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    oneLine(r.stderr);
    if (exact !== undefined) expect(r.stderr).toBe(exact);
  });

  it("--version prints the version, exit 0", async () => {
    const r = await run(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("0.1.0\n");
  });
});

describe("global options and colour", () => {
  it("--quiet is accepted before and after the command name", async () => {
    for (const argv of [
      ["-q", "layout", "--help"],
      ["layout", "--quiet", "--help"],
    ]) {
      const r = await run(argv, NO_COLOUR);
      expect(r.code).toBe(0);
    }
  });

  it("help titles are bold only when colour is on; NO_COLOR wins over FORCE_COLOR", async () => {
    const forced = await run(["diff", "--help"], { FORCE_COLOR: "1", NO_COLOR: undefined });
    expect(forced.stdout).toContain("\x1b[1mUsage:\x1b[22m");
    const off = await run(["diff", "--help"], { FORCE_COLOR: "1", NO_COLOR: "1" });
    expect(off.stdout).not.toContain("\x1b[");
  });

  it("diff output: no escape codes with NO_COLOR or off a terminal", async () => {
    // in the test process stdout is not a terminal: plain text unless FORCE_COLOR
    const a = await saveFile(dir, [{ idstr: "r", image: specImage(16) }]);
    const plain = await run(["diff", a, a], { NO_COLOR: undefined, FORCE_COLOR: undefined });
    expect(plain.stdout).not.toContain("\x1b[");
    const noColor = await run(["diff", a, a], { NO_COLOR: "1", FORCE_COLOR: "1" });
    expect(noColor.stdout).not.toContain("\x1b[");
    const forced = await run(["diff", a, a], { NO_COLOR: undefined, FORCE_COLOR: "1" });
    expect(forced.stdout).toContain("\x1b[32mequal\x1b[39m");
  });
});

describe("the built CLI in its own process (dist/bin/mrc.js, built by npm test)", () => {
  it("help, a usage error and diff's exit codes", async () => {
    // --offset has no default value: absent means "after a libvirt header, else 0"
    const help = await mrc(["layout", "--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout.replace(/\s+/g, " ")).toContain(
      "--offset <N> file: offset where the stream starts (default: after a libvirt save-image header, else 0)",
    );
    const bad = await mrc(["inspect", "--bogus"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe("mrc: usage: unknown option '--bogus'"); // execa strips the final newline
    const a = await saveFile(dir, [{ idstr: "r", image: specImage(16) }]);
    const img = specImage(16);
    img[5 * 4096] = 0x99;
    const b = await saveFile(dir, [{ idstr: "r", image: img }]);
    expect((await mrc(["diff", a, a])).exitCode).toBe(0);
    const d = await mrc(["diff", a, b, "--json"]);
    expect(d.exitCode).toBe(1);
    expect(JSON.parse(d.stdout).equal).toBe(false);
    expect(d.stderr).toBe("");
  });
});

describe("output to a closed pipe", () => {
  it("ends quietly with its own exit code when the reader is gone (mrc caps --rules | true)", async () => {
    const { execa } = await import("execa");
    // `true` exits at once, long before node has started: every write of mrc meets EPIPE
    const r = await execa(
      "bash",
      ["-c", `node ${JSON.stringify(MRC_MAIN)} caps --rules | true; exit \${PIPESTATUS[0]}`],
      {
        reject: false,
      },
    );
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  });
});
