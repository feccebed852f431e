#!/usr/bin/env node
// dist/bin/mrc.js, the package's bin (scripts/bundle.mjs copies this file there; CommonJS, as
// dist/bin/package.json says): runs mrc-main.cjs, the CLI bundled as one CommonJS file, compiled with
// the V8 code cache beside it (mrc-main.cjs.cache, made by `npm run build`), so a run deserializes the
// functions it needs instead of parsing and compiling them. A missing, unreadable or rejected cache
// (another node, other V8 flags, a corrupt file) only makes start-up slower. MRC_CODE_CACHE_DEBUG=1
// prints one line to stderr: `mrc: code cache accepted`, `rejected` or `absent`. The cache is never
// written, except under MRC_WRITE_CODE_CACHE=DIR (the build): then at exit, temp then rename, with what
// the run was given and what it compiled.
const { isAscii } = require("node:buffer");
const { readFileSync, renameSync, writeFileSync } = require("node:fs");
const { Module, createRequire } = require("node:module");
const { dirname, join } = require("node:path");
const { Script } = require("node:vm");

const filename = join(__dirname, "mrc-main.cjs");
const cacheFile = `${filename}.cache`;
// DIR: where this bin will be. V8 keeps the script name a cache was made with (stack traces show it).
const cacheDir = process.env.MRC_WRITE_CODE_CACHE;

let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // no cache (or not readable): compile from source
}
// the bundle is ASCII (scripts/bundle.mjs): latin1 decodes it by copying, a few times faster than utf8
const bytes = readFileSync(filename);
const source = bytes.toString(isAscii(bytes) ? "latin1" : "utf8");
// a CommonJS module's function, with the parameters node's own loader gives it
const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
const script = new Script(wrapped, {
  filename: cacheDir ? join(cacheDir, "mrc-main.cjs") : filename,
  cachedData,
});
if (process.env.MRC_CODE_CACHE_DEBUG === "1") {
  const state = cachedData === undefined ? "absent" : script.cachedDataRejected ? "rejected" : "accepted";
  process.stderr.write(`mrc: code cache ${state}\n`);
}
if (cacheDir) {
  process.on("exit", () => {
    const temp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(temp, script.createCachedData());
    renameSync(temp, cacheFile);
  });
}

// Run as the CommonJS module of its own file. The bundled main.js starts the CLI, since process.argv[1]
// is this file (or the `mrc` link to it).
const main = new Module(filename);
main.filename = filename;
script.runInThisContext()(main.exports, createRequire(filename), main, filename, dirname(filename));
