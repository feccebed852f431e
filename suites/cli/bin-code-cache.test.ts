// dist/bin/mrc.js compiles the CLI bundle (mrc-main.cjs) with the V8 code cache `npm run build` makes beside
// it (scripts/bundle.mjs, scripts/bin-loader.cjs). A corrupt or missing cache only costs start-up: same
// output, same exit code, and the bin never writes one. A build that cannot make the cache still gives a
// working bin and says so in one line. MRC_CODE_CACHE_DEBUG=1 makes the bin say what it did with the cache.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { MRC_MAIN } from "../helpers/cli.js";
import { tempDir } from "./fixtures.js";

const BIN = dirname(MRC_MAIN);
const BUNDLE_SCRIPT = fileURLToPath(new URL("../../scripts/bundle.mjs", import.meta.url));
const CACHE = "mrc-main.cjs.cache";
const dir = await tempDir("bin-code-cache");

// V8 flags in NODE_OPTIONS would make V8 reject the cache (the build leaves NODE_OPTIONS out too)
const DEBUG = { MRC_CODE_CACHE_DEBUG: "1", NODE_OPTIONS: undefined };
const QUIET = { NODE_OPTIONS: undefined };

function run(file: string, args: readonly string[], env: Record<string, string | undefined> = DEBUG) {
  return execa(file, args, { env, reject: false, stdin: "ignore" });
}

/** A copy of dist/bin (and dist/native beside it, as in dist/, when it was built) under `name`. */
function copyOfBin(name: string): string {
  const bin = join(dir, name, "bin");
  cpSync(BIN, bin, { recursive: true });
  const native = join(BIN, "..", "native");
  if (existsSync(native)) cpSync(native, join(dir, name, "native"), { recursive: true });
  return bin;
}

/** Names, sizes and modification times: what a run must leave as it was. */
function snapshot(bin: string) {
  return readdirSync(bin)
    .sort()
    .map((n) => [n, statSync(join(bin, n)).size, statSync(join(bin, n)).mtimeMs]);
}

describe("the bin's code cache", () => {
  it("the built bin has one, V8 accepts it, and the bin runs as `mrc` through a link", async () => {
    expect(readdirSync(BIN).sort()).toEqual([
      "channel-worker.js",
      "extract-worker.js",
      "mrc-main.cjs",
      CACHE,
      "mrc.js",
      "package.json",
    ]);
    // the bin and the workers load as CommonJS
    expect(JSON.parse(readFileSync(join(BIN, "package.json"), "utf8"))).toEqual({ type: "commonjs" });
    const r = await run(process.execPath, [MRC_MAIN, "--version"]);
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([0, "0.1.0", "mrc: code cache accepted"]);
    // what npm's bin link does: a link named mrc, run through its #! line
    const link = join(dir, "mrc");
    symlinkSync(MRC_MAIN, link);
    const viaLink = await run(link, ["--version"]);
    expect([viaLink.exitCode, viaLink.stdout, viaLink.stderr]).toEqual([
      0,
      "0.1.0",
      "mrc: code cache accepted",
    ]);
    // without MRC_CODE_CACHE_DEBUG, not a word about it
    const quiet = await run(process.execPath, [MRC_MAIN, "--version"], QUIET);
    expect([quiet.exitCode, quiet.stdout, quiet.stderr]).toEqual([0, "0.1.0", ""]);
  });

  it.each([
    ["garbage", "rejected", (f: string) => writeFileSync(f, "not a V8 code cache\n".repeat(100))],
    ["empty", "rejected", (f: string) => writeFileSync(f, "")],
    [
      "cut in half",
      "rejected",
      (f: string) => writeFileSync(f, readFileSync(f).subarray(0, statSync(f).size >> 1)),
    ],
    ["missing", "absent", (f: string) => rmSync(f)],
    [
      "a directory",
      "absent",
      (f: string) => {
        rmSync(f);
        mkdirSync(f);
      },
    ],
  ])("a cache that is %s: %s, the same output, exit 0, nothing written", async (name, state, spoil) => {
    const bin = copyOfBin(name.replaceAll(" ", "-"));
    spoil(join(bin, CACHE));
    const before = snapshot(bin);
    const version = await run(process.execPath, [join(bin, "mrc.js"), "--version"]);
    expect([version.exitCode, version.stdout, version.stderr]).toEqual([
      0,
      "0.1.0",
      `mrc: code cache ${state}`,
    ]);
    const help = await run(process.execPath, [join(bin, "mrc.js"), "extract", "--help"]);
    const expected = await run(process.execPath, [MRC_MAIN, "extract", "--help"], QUIET);
    expect([help.exitCode, help.stdout, help.stderr]).toEqual([
      0,
      expected.stdout,
      `mrc: code cache ${state}`,
    ]);
    expect(snapshot(bin)).toEqual(before);
  });

  it("a build that cannot make the cache: one line saying so, exit 0, a bin that works without it", async () => {
    const out = join(dir, "build", "bin");
    // no temp dir for the cache's runs
    const r = await execa(process.execPath, [BUNDLE_SCRIPT], {
      env: { ...QUIET, MRC_BIN_OUT_DIR: out, TMPDIR: join(dir, "nonexistent") },
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(
      /^bundle: code cache not written \(ENOENT: [^\n]*\); mrc starts without it \(slower\)$/,
    );
    expect(readdirSync(join(dir, "build"))).toEqual(["bin"]); // no partial directory left
    expect(readdirSync(out).sort()).toEqual([
      "channel-worker.js",
      "extract-worker.js",
      "mrc-main.cjs",
      "mrc.js",
      "package.json",
    ]);
    const version = await run(join(out, "mrc.js"), ["--version"]);
    expect([version.exitCode, version.stdout, version.stderr]).toEqual([
      0,
      "0.1.0",
      "mrc: code cache absent",
    ]);
  });
});
