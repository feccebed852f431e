// `mrc verify`: output, exit codes (0 no fail / 1 fail, or nonstrict under --strict / 2 usage or I/O).
// The CLI's shared plumbing (src/cli/common.ts) is the only non-oracle code these tests load.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { runVerify } from "../../src/cli/commands/verify.js";
import { main } from "../../src/cli/main.js";
import { findingCase } from "../../src/oracle/index.js";
import { makeImage } from "../helpers/images.js";
import { buildFile } from "./helpers/builder.js";
import { CORRUPT_CASES } from "./helpers/corrupt-cases.js";

const hex = (v: bigint) => `0x${v.toString(16)}`;

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrc-verify-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("runVerify on every hand-made corrupt file", () => {
  const fileCases = CORRUPT_CASES.filter((c) => c.make().options === undefined);
  it.each(fileCases.map((c, i) => [c.id, c.what, c, i] as const))("%s: %s", async (_id, _what, c, i) => {
    const path = join(dir, `case-${i}.mig`);
    await c.make().file.saveTo(path);
    const out: string[] = [];
    const full = { ram: [], scanClearPages: true };
    const plain = await runVerify(path, full, (s) => out.push(s));
    const strict = await runVerify(path, { ...full, strict: true }, () => undefined);
    const severity = findingCase(c.id).severity;
    expect(out.join("")).toContain(`${severity} ${c.id} at ${hex(c.offset)}: `);
    if (severity === "fail") {
      expect([plain, strict]).toEqual([1, 1]);
    } else if (c.clean) {
      // nonstrict: accepted unless --strict; info: always accepted
      expect([plain, strict]).toEqual(severity === "nonstrict" ? [0, 1] : [0, 0]);
    }
  });
});

describe("mrc verify reads clear-bit pages only when asked", () => {
  it("reports stale bytes under a clear bit with --scan-clear-pages, and not without", async () => {
    const c = CORRUPT_CASES.find((x) => x.id === "ram.pages.staleUnderClearBit");
    if (c === undefined) throw new Error("no staleUnderClearBit case");
    const path = join(dir, "stale.mig");
    await c.make().file.saveTo(path);
    const without: string[] = [];
    expect(await runVerify(path, { ram: [] }, (s) => without.push(s))).toBe(0);
    expect(without.join("")).toBe(`${path}: 0 fail, 0 nonstrict, 0 info\n`);
    const withScan: string[] = [];
    expect(await runVerify(path, { ram: [], scanClearPages: true }, (s) => withScan.push(s))).toBe(0);
    expect(withScan.join("")).toContain("info ram.pages.staleUnderClearBit at 0x108000: ");
    expect(withScan.join("")).toContain(`${path}: 0 fail, 0 nonstrict, 1 info\n`);
  });
});

describe("mrc verify through the command line parser", () => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    stdout.length = 0;
    stderr.length = 0;
    process.exitCode = undefined;
  });
  /** Run `mrc ARGS`; stdout/stderr then hold this run's output only. */
  async function mrc(...args: string[]): Promise<number> {
    stdout.length = 0;
    stderr.length = 0;
    vi.spyOn(process.stdout, "write").mockImplementation((s) => {
      stdout.push(String(s));
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation((s) => {
      stderr.push(String(s));
      return true;
    });
    const code = await main(args);
    vi.restoreAllMocks();
    return code;
  }

  async function save(
    name: string,
    make: () => { file: { saveTo(p: string): Promise<void> } },
  ): Promise<string> {
    const path = join(dir, name);
    await make().file.saveTo(path);
    return path;
  }

  it("a correct file saved at offset 0x1000: exit 0, with --offset 0x1000 or 4k", async () => {
    const path = await save("ok-4k.mig", () =>
      buildFile({ offset: 0x1000n, blocks: [{ idstr: "r", pages: 16 }] }),
    );
    expect(await mrc("verify", path, "--offset", "0x1000")).toBe(0);
    expect(stdout.join("")).toBe(`${path}: 0 fail, 0 nonstrict, 0 info\n`);
    expect(await mrc("verify", path, "--offset", "4k", "--strict")).toBe(0);
    expect(await mrc("verify", path)).toBe(1); // read from 0: the prefix is not QEVM
    expect(stdout.join("")).toContain("fail stream.magic.invalid at 0x0: ");
  });

  it("--scan-clear-pages turns the stale-byte scan on", async () => {
    const c = CORRUPT_CASES.find((x) => x.id === "ram.pages.staleUnderClearBit");
    if (c === undefined) throw new Error("no case");
    const path = await save("stale-cli.mig", c.make);
    expect(await mrc("verify", path)).toBe(0);
    expect(stdout.join("")).toBe(`${path}: 0 fail, 0 nonstrict, 0 info\n`);
    expect(await mrc("verify", path, "--scan-clear-pages")).toBe(0);
    expect(stdout.join("")).toMatch(
      /^info ram\.pages\.staleUnderClearBit at 0x108000: .*\n.*: 0 fail, 0 nonstrict, 1 info\n$/,
    );
  });

  it("a nonstrict file: exit 0, and 1 with --strict; --json is an array of the findings", async () => {
    const c = CORRUPT_CASES.find((x) => x.id === "ram.header.pagesOffset.notMibAligned");
    if (c === undefined) throw new Error("no case");
    const path = await save("not-mib.mig", c.make);
    expect(await mrc("verify", path)).toBe(0);
    expect(await mrc("verify", path, "--strict")).toBe(1);
    expect(await mrc("verify", path, "--json")).toBe(0);
    expect(JSON.parse(stdout.join(""))).toEqual([
      {
        id: "ram.header.pagesOffset.notMibAligned",
        severity: "nonstrict",
        offset: "0x77",
        field: "pages_offset",
        expected: "0x100000",
        actual: "0x1000",
        message: 'ramblock "r" MappedRamHeader: pages_offset must be a multiple of 0x100000. Received 0x1000',
      },
    ]);
  });

  it("--ram NAME=IMAGE: the image the file was saved from passes, another one fails", async () => {
    const image = makeImage("zeroRuns", 16);
    const path = await save("ram.mig", () => buildFile({ blocks: [{ idstr: "r", pages: 16, image }] }));
    const good = join(dir, "good.img");
    const bad = join(dir, "bad.img");
    await writeFile(good, image);
    const other = image.slice();
    other[2 * 4096 + 7] = 0xfe; // the page is all 0x33 in the zeroRuns pattern
    await writeFile(bad, other);
    expect(await mrc("verify", path, "--ram", `r=${good}`)).toBe(0);
    expect(await mrc("verify", path, "--ram", `r=${bad}`)).toBe(1);
    expect(stdout.join("")).toContain("fail ram.image.pageMismatch at 0x102000: ");
  });

  it.each([
    ["no such file", ["verify", "/nonexistent/x.mig"]],
    ["a bad --offset", ["verify", "x.mig", "--offset", "0x20M"]],
    ["--ram without =", ["verify", "x.mig", "--ram", "r"]],
    ["no FILE", ["verify"]],
  ])("%s: exit 2", async (_what, args) => {
    expect(await mrc(...args)).toBe(2);
  });

  it("a missing image or a NAME given twice: exit 2", async () => {
    const path = await save("ok.mig", () => buildFile({ blocks: [{ idstr: "r", pages: 16 }] }));
    expect(await mrc("verify", path, "--ram", `r=${join(dir, "missing.img")}`)).toBe(2);
    expect(stderr.join("")).toMatch(/^mrc: ENOENT: /);
    expect(await mrc("verify", path, "--ram", "r=a", "--ram", "r=b")).toBe(2);
    expect(stderr.join("")).toContain("mrc: usage: --ram r= is given twice");
  });
});
