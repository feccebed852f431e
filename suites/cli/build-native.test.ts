// scripts/build-native.mjs, the optional native helper's build: built where a C compiler is, one line and
// exit 0 where none is, exit 1 under MRC_REQUIRE_NATIVE=1 (CI). Builds into a temp dir
// (MRC_NATIVE_OUT_DIR), never dist/native, which the other suites load.
import { readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "./fixtures.js";

const SCRIPT = fileURLToPath(new URL("../../scripts/build-native.mjs", import.meta.url));
const dir = await tempDir("build-native");
const haveCc = (await execa("sh", ["-c", "command -v cc"], { reject: false })).exitCode === 0;

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function build(out: string, env: Record<string, string>) {
  return execa(process.execPath, [SCRIPT], { env: { MRC_NATIVE_OUT_DIR: out, ...env }, reject: false });
}

describe("build-native", () => {
  it.each([
    ["no compiler", "/nonexistent/cc", "no C compiler (/nonexistent/cc)"],
    ["a compiler that fails", "false", "false failed (exit 1)"],
  ])("%s: one line saying so, exit 0, no module", async (_, cc, why) => {
    const out = join(dir, cc.replaceAll("/", "_"));
    const r = await build(out, { CC: cc, MRC_REQUIRE_NATIVE: "0" });
    expect([r.exitCode, r.stderr]).toEqual([
      0,
      `build-native: ${why}; mrc does its page I/O in JS instead (slower)`,
    ]);
    expect(readdirSync(out)).toEqual([]);
  });

  it("without a C compiler under MRC_REQUIRE_NATIVE=1: exit 1", async () => {
    const r = await build(join(dir, "required"), { CC: "/nonexistent/cc", MRC_REQUIRE_NATIVE: "1" });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.split("\n")).toEqual([
      "build-native: no C compiler (/nonexistent/cc); mrc does its page I/O in JS instead (slower)",
      "build-native: MRC_REQUIRE_NATIVE=1, so this is an error",
    ]);
  });

  it.skipIf(!haveCc && process.env.MRC_REQUIRE_NATIVE !== "1")(
    "with cc: a module that loads and has the helper's functions",
    async () => {
      const out = join(dir, "built");
      const r = await build(out, {});
      expect([r.exitCode, r.stderr]).toEqual([0, ""]);
      const mod = createRequire(import.meta.url)(join(out, "mrc-io.node")) as Record<string, unknown>;
      expect(Object.keys(mod).sort()).toEqual([
        "allocatedBytesIn",
        "copyFromMapping",
        "copyPages",
        "dataExtents",
        "mapImagePages",
        "mappedImageBytes",
        "readImagePages",
        "savePages",
        "unmapImagePages",
      ]);
      // nothing half-built left beside it
      expect(readdirSync(out)).toEqual(["mrc-io.node"]);
    },
  );
});
