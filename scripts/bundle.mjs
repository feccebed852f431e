// Bundles the built CLI (dist/cli/main.js, from tsc) and its two worker entry points into dist/bin/ with
// esbuild, and gives the CLI a V8 code cache:
// - mrc-main.cjs: all the main thread runs, commander, execa and tmp-promise included, as ONE CommonJS
//   file (so one instance of the process-wide state in cli/cleanup.ts and qemu/registry.ts). Commands stay
//   lazy: esbuild makes each import() a function that runs the module when its command is named.
//   fast-check (a devDependency, for generated capability sequences) stays in node_modules: require()d
//   when those run, and skipped when missing, as src/conformance/caps/suite.ts expects. All ASCII.
// - mrc.js, the package's bin: scripts/bin-loader.cjs, which compiles mrc-main.cjs with mrc-main.cjs.cache
//   and runs it. The cache is made here: the new bin runs the help of every command and a small save,
//   extract, verify and inspect, each run adding what it compiled (MRC_WRITE_CODE_CACHE). Where that
//   fails, this prints one line and the bin runs without a cache. Start-up on the 2-CPU VM (medians of
//   21): `mrc extract --help` 46 -> 38 ms (ESM chunks -> this), 46 ms with this bundle and no cache.
// - channel-worker.js, extract-worker.js: one self-contained CommonJS file each, loaded by new Worker(URL).
// - package.json: {"type": "commonjs"}, so node loads the bin and the workers as CommonJS (an ES module
//   entry costs ~4 ms more: `mrc extract --help` 32 -> 28 ms).
// All side by side in dist/bin/, so the bundled code finds ./channel-worker.js, ./extract-worker.js and
// ../native/mrc-io.node where the unbundled dist/impl/ code does. Written to a temp directory and renamed,
// so no half-built bin is run. MRC_BIN_OUT_DIR: elsewhere than dist/bin (this script's test).
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const target = process.env.MRC_BIN_OUT_DIR || join(root, "dist", "bin");
const partial = `${target}.${process.pid}.partial`;
const MAIN = "mrc-main.cjs";
/**
 * commander requires node:child_process when it loads, for executable subcommands, which mrc has none
 * of; child_process brings net, dgram and streams with it (~2 ms of every start-up). Its three spawn
 * calls get it on first use instead. The build fails if commander's line is no longer there.
 */
const lazyChildProcessInCommander = {
  name: "lazy-child-process-in-commander",
  setup(b) {
    b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const eager = "const childProcess = require('node:child_process');";
      const text = await readFile(args.path, "utf8");
      if (!text.includes(eager)) throw new Error(`bundle: ${args.path} no longer has ${eager}`);
      const lazy = "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };";
      return { contents: text.replace(eager, lazy), loader: "js" };
    });
  },
};

/**
 * esbuild options every bundle shares: CommonJS for node 20 with ES module semantics (strict mode), and
 * import.meta.url as the bundle's own file URL (the code finds its workers and the native helper by it).
 */
const COMMONJS = {
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  define: { "import.meta.url": "__mrcUrl" },
  banner: { js: '"use strict";\nconst __mrcUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: "warning",
};

/** The main-thread bundle, without the hashbang it inherits from main.js (it runs inside Module.wrap). */
async function bundleMain() {
  const { outputFiles } = await build({
    entryPoints: [join(root, "dist/cli/main.js")],
    outfile: join(partial, MAIN),
    write: false,
    ...COMMONJS,
    external: ["fast-check"],
    plugins: [lazyChildProcessInCommander],
  });
  const [file] = outputFiles;
  const text = file.text
    .replace(/^#!.*/, "")
    .replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  // a dynamic import() left in it would fail under vm.Script (no importModuleDynamically)
  if (/\bimport\(/.test(text)) throw new Error(`bundle: ${MAIN} has a dynamic import()`);
  writeFileSync(file.path, text);
}

async function bundleWorkers() {
  await build({
    entryPoints: {
      "channel-worker": join(root, "dist/impl/channel-worker.js"),
      "extract-worker": join(root, "dist/impl/extract-worker.js"),
    },
    outdir: partial,
    ...COMMONJS,
  });
}

/** Every command's name, from the built src/cli/commands/index.ts. */
async function commandNames() {
  const { commands } = await import(pathToFileURL(join(root, "dist/cli/commands/index.js")).href);
  return commands.map((c) => c.name);
}

/** A RAM image with data pages and zero pages (deterministic), for the round trip below. */
function ramImage(path) {
  const page = 4096;
  const image = Buffer.alloc(1024 * page);
  for (let i = 0; i < 1024; i++) if (i % 3 !== 0) image.fill((i * 131) & 0xff || 1, i * page, (i + 1) * page);
  writeFileSync(path, image);
}

/**
 * Runs the bin in `dir` on representative work, each run adding what it compiled to dir/mrc-main.cjs.cache;
 * on failure, one line and no cache. NODE_OPTIONS is left out: V8 flags in it (--max-old-space-size) would
 * make a plain `node mrc.js` reject the cache.
 */
async function writeCodeCache(dir) {
  const cache = join(dir, `${MAIN}.cache`);
  const env = { ...process.env, MRC_WRITE_CODE_CACHE: target };
  delete env.MRC_CODE_CACHE_DEBUG;
  delete env.NODE_OPTIONS;
  let work;
  try {
    work = mkdtempSync(join(tmpdir(), "mrc-code-cache-"));
    const img = join(work, "ram.img");
    const mig = join(work, "vm.mig");
    ramImage(img);
    const runs = [
      ["--help"],
      ...(await commandNames()).map((c) => [c, "--help"]),
      ["save", "-q", "--block", `pc.ram=${img}`, "-o", mig],
      ["extract", "-q", mig, "-o", join(work, "out")],
      ["verify", mig],
      ["inspect", mig, "--json"],
    ];
    for (const args of runs) {
      const r = spawnSync(process.execPath, [join(dir, "mrc.js"), ...args], {
        env,
        stdio: ["ignore", "ignore", "pipe"],
        encoding: "utf8",
        timeout: 60_000,
      });
      if (r.status !== 0) {
        const why = r.error?.message || r.stderr.trim().split("\n").at(-1) || `exit ${r.status ?? r.signal}`;
        throw new Error(`mrc ${args.join(" ")}: ${why}`);
      }
    }
    if (!existsSync(cache)) throw new Error("no cache file after the runs");
  } catch (e) {
    for (const name of readdirSync(dir)) if (name.startsWith(`${MAIN}.cache`)) rmSync(join(dir, name));
    console.warn(`bundle: code cache not written (${e.message}); mrc starts without it (slower)`);
  } finally {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  }
}

rmSync(partial, { recursive: true, force: true });
try {
  await Promise.all([bundleMain(), bundleWorkers()]);
  // CommonJS, the bin and the workers: an ES module entry costs node ~4 ms more to start
  writeFileSync(join(partial, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
  const bin = join(partial, "mrc.js");
  copyFileSync(join(root, "scripts", "bin-loader.cjs"), bin);
  chmodSync(bin, 0o755);
  await writeCodeCache(partial);
  rmSync(target, { recursive: true, force: true });
  renameSync(partial, target);
} catch (e) {
  rmSync(partial, { recursive: true, force: true });
  throw e;
}
if (!existsSync(join(target, "mrc.js"))) throw new Error("bundle: dist/bin/mrc.js was not written");
