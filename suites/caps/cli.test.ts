// `mrc caps` end to end (in process): output lines, --json, exit codes 0 accepted / 1 refused / 2 usage.
import { afterEach, describe, expect, it } from "vitest";
import { parseParamValue } from "../../src/cli/commands/caps.js";
import { run } from "../cli/run.js";

afterEach(() => {
  process.exitCode = undefined;
});

describe("mrc caps", () => {
  it("accepted sequence: exit 0, `accepted` and what the migration does next", async () => {
    const r = await run([
      "caps",
      "--on",
      "mapped-ram,multifd",
      "--param",
      "multifd-channels=4",
      "--uri",
      "file:/tmp/x",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("accepted\nthen: completed (settle.completed)\n");
  });

  it("refused: exit 1, `error: <QEMU's text>` first, then the rule", async () => {
    const r = await run(["caps", "--on", "mapped-ram", "--on", "multifd,xbzrle"]);
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n").slice(0, 2)).toEqual([
      "error: Multifd is not compatible with xbzrle",
      "rule: caps.multifd.xbzrle (migrate-set-capabilities)",
    ]);
  });

  it("flags QEMU 10.0's parameter quirk", async () => {
    const r = await run([
      "caps",
      "--on",
      "mapped-ram",
      "--param",
      "multifd-compression=zlib",
      "--uri",
      "file:/tmp/x",
    ]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("error: Cannot use compression with mapped-ram");
    expect(
      lines.some((l) => l.startsWith("quirk: QEMU 10.0 quirk: migrate_params_check tests mapped-ram")),
    ).toBe(true);
  });

  it("offset syntax and migrate-incoming", async () => {
    expect((await run(["caps", "--on", "mapped-ram", "--uri", "file:/tmp/x,offset=-1"])).stdout).toMatch(
      /^error: file URI has bad offset -1: Numerical result out of range\n/,
    );
    const inc = await run(["caps", "--incoming", "--on", "mapped-ram", "--uri", "tcp:127.0.0.1:0"]);
    expect(inc.code).toBe(1);
    expect(inc.stdout).toMatch(/^error: Migration requires seekable transport \(e\.g\. file\)\n/);
    expect((await run(["caps", "--incoming", "--uri", "file:/tmp/in"])).code).toBe(0);
  });

  it("--json carries the answer and every call", async () => {
    const r = await run(["caps", "--json", "--param", "multifd-channels=0"]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({
      result: "error",
      error: "Parameter 'multifd_channels' expects a value between 1 and 255",
      rule: "params.multifdChannels.range",
      call: "migrate-set-parameters",
    });
    expect(j.steps).toHaveLength(1);
  });

  it("usage errors exit 2: duplicate --param, unmodelled parameter", async () => {
    expect((await run(["caps", "--param", "direct-io=true", "--param", "direct-io=false"])).code).toBe(2);
    const r = await run(["caps", "--param", "downtime-limit=5"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not modelled/);
  });

  it("--rules prints one row per rule", async () => {
    const r = await run(["caps", "--rules"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("caps.mappedRam.xbzrle\tmigration/options.c: migrate_caps_check\t");
  });

  it("parses --param values as QMP JSON", () => {
    expect(parseParamValue("4")).toBe(4);
    expect(parseParamValue("-1")).toBe(-1);
    expect(parseParamValue("18446744073709551615")).toBe(18446744073709551615n);
    expect(parseParamValue("true")).toBe(true);
    expect(parseParamValue("null")).toBe(null);
    expect(parseParamValue('"2"')).toBe("2");
    expect(parseParamValue("zlib")).toBe("zlib");
    expect(parseParamValue("")).toBe("");
  });
});
