// The fuzz campaign's case runner: a worker thread (so a hang can be ended and the heap is bounded) that
// runs the built tools (dist/, from `npm run build`) on mutated files and reports, per target, a result,
// our typed error, or a broken invariant. Plain JavaScript because a worker thread cannot load TypeScript;
// the cases themselves are generated in TypeScript (engine.ts) and arrive as data.
//
// Per seed it keeps a working copy in memory and on disk; a case's in-place writes are applied to both and
// undone afterwards, other edits (truncation, inserted bytes, whole files) go to a fresh file. Every
// `reuseEvery` cases, and after every broken invariant, the same tool instances read the unmutated seed
// again and must give exactly what they gave at start.
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { open, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";

const { dist, tmp, seeds: seedData, targets, reuseEvery } = workerData;
const impl = await import(join(dist, "impl/index.js"));
const oracle = await import(join(dist, "oracle/index.js"));
const cli = await import(join(dist, "cli/main.js"));
const KNOWN_FINDINGS = new Set(oracle.FINDING_CASES.map((c) => c.id));
const KNOWN_CODES = new Set([
  "ERR_TRUNCATED",
  "ERR_BAD_MAGIC",
  "ERR_UNSUPPORTED_VERSION",
  "ERR_INVALID_VALUE",
  "ERR_UNEXPECTED_RECORD",
  "ERR_BAD_RAM_FLAGS",
  "ERR_BAD_FOOTER",
  "ERR_UNKNOWN_BLOCK",
  "ERR_BAD_LAYOUT",
  "ERR_TOO_LARGE",
  "ERR_BAD_VMDESC",
  "ERR_UNDECODABLE",
]);

mkdirSync(tmp, { recursive: true });

/** A refusal that is not an exception: the oracle's fail findings, a CLI exit 1. */
class Refused {
  constructor(code, fingerprint) {
    this.code = code;
    this.fingerprint = fingerprint;
  }
}

/** A broken invariant (anything that is neither a result nor our typed error). */
class Broken extends Error {
  constructor(kind, detail) {
    super(detail);
    this.kind = kind;
  }
}

const big = (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v);

const seeds = [];
for (const [i, s] of seedData.entries()) {
  const pristine = new Uint8Array(s.buffer, 0, s.length);
  const work = pristine.slice();
  const path = join(tmp, `seed-${i}.mig`);
  await writeFile(path, work);
  seeds.push({
    name: s.name,
    pristine,
    work,
    path,
    opts: s.offset === null ? {} : { offset: BigInt(s.offset) },
    // one long-lived source per seed: the "same reader instance" that must still read the good file
    memSource: new impl.MemorySource(pristine),
    oracleSource: oracle.memorySource(pristine),
    baseline: new Map(),
  });
}

let outDirs = 0;
function freshDir(tag) {
  const dir = join(tmp, `${tag}-${outDirs++}`);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

function typedCheck(e) {
  if (!(e instanceof impl.MappedRamError)) {
    const err = e instanceof Error ? e : new Error(String(e));
    throw new Broken(
      "untyped",
      `${err.name}: ${err.message}\n${(err.stack ?? "").split("\n").slice(1, 6).join("\n")}`,
    );
  }
  if (!KNOWN_CODES.has(e.code)) throw new Broken("shape", `unexpected code ${e.code}: ${e.message}`);
  if (!e.message.startsWith(`cannot decode ${e.subject}`) || e.message.includes("\n")) {
    throw new Broken("shape", `message is not "cannot decode <subject> ...": ${JSON.stringify(e.message)}`);
  }
  return e;
}

async function capture(argv) {
  const out = [];
  const err = [];
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  const sink = (into) => (chunk, enc, cb) => {
    into.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    const done = typeof enc === "function" ? enc : cb;
    if (typeof done === "function") done();
    return true;
  };
  process.stdout.write = sink(out);
  process.stderr.write = sink(err);
  let code;
  try {
    code = await cli.main(argv);
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  return { code, stdout: out.join(""), stderr: err.join("") };
}

const offsetArgs = (opts) => (opts.offset === undefined ? [] : ["--offset", `0x${opts.offset.toString(16)}`]);
const ERROR_LINE = /^mrc: ERR_[A-Z_]+( @0x[0-9a-f]+)?: cannot decode [^\n]*\n$/;

function cliCheck(r, allowFindingsExit) {
  if (r.code === 0) {
    if (r.stderr !== "")
      throw new Broken("cli", `exit 0 with stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
    return;
  }
  if (r.code === 1 && allowFindingsExit && r.stderr === "") return;
  if (r.code === 1 && ERROR_LINE.test(r.stderr)) return;
  throw new Broken("cli", `exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 400))}`);
}

async function noBlockFiles(dir, why) {
  const left = await readdir(dir).catch(() => []);
  if (left.length > 0)
    throw new Broken("leftover", `${why}: ${left.slice(0, 5).join(", ")} left in the output directory`);
}

/** Each target returns a fingerprint of its result (compared on the unmutated seed) or throws. */
const TARGETS = {
  async "impl.parse"(c) {
    try {
      const s = await impl.parseStream(c.source, c.opts);
      return JSON.stringify(impl.summarize(s), big);
    } catch (e) {
      return typedCheck(e);
    }
  },
  async "impl.extract"(c) {
    const dir = freshDir("x");
    try {
      const r = await impl.extractBlocks(c.source, dir, { ...c.opts, force: false });
      const names = (await readdir(dir)).sort();
      const want = r.blocks.map((b) => impl.blockFileName(b.idstr)).sort();
      if (JSON.stringify(names) !== JSON.stringify(want)) {
        throw new Broken(
          "leftover",
          `after success the directory holds ${names.join(", ")}, not ${want.join(", ")}`,
        );
      }
      return JSON.stringify(
        r.blocks.map((b) => [b.idstr, b.usedLength, b.pagesPresent]),
        big,
      );
    } catch (e) {
      if (e instanceof Broken) throw e;
      const err = typedCheck(e);
      await noBlockFiles(dir, `extract refused the file (${err.code})`);
      return err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
  async "impl.inspect"(c) {
    try {
      const r = await impl.inspectFile(c.path, c.opts);
      return JSON.stringify({ ...r, file: "", allocatedBytes: "" }, big);
    } catch (e) {
      return typedCheck(e);
    }
  },
  async "oracle.check"(c) {
    let r;
    try {
      r = await oracle.checkFile(c.oracleSource, c.opts);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      throw new Broken(
        "untyped",
        `checkFile threw ${err.name}: ${err.message}\n${(err.stack ?? "").split("\n").slice(1, 6).join("\n")}`,
      );
    }
    for (const f of r.findings) {
      if (!KNOWN_FINDINGS.has(f.id)) throw new Broken("shape", `unknown finding id ${f.id}`);
      if (f.offset < 0n || f.message.includes("\n"))
        throw new Broken("shape", `finding ${f.id}: ${JSON.stringify(f.message)}`);
    }
    const fp = JSON.stringify(r.findings.map(oracle.findingToJSON));
    const fail = r.findings.find((f) => f.severity === "fail");
    return fail ? new Refused(fail.id, fp) : fp;
  },
  async "cli.verify"(c) {
    const r = await capture(["verify", c.path, ...offsetArgs(c.opts), "--json"]);
    cliCheck(r, true);
    return r.code === 0 ? `0 ${r.stdout}` : new Refused("exit 1 (fail findings)", `${r.code} ${r.stdout}`);
  },
  async "cli.inspect"(c) {
    const r = await capture(["inspect", c.path, ...offsetArgs(c.opts), "--json"]);
    cliCheck(r, false);
    return r.code === 0
      ? `0 ${r.stdout.replace(/"(file|allocatedBytes)": "[^"]*"/g, "")}`
      : new Refused(`exit 1 ${/ERR_[A-Z_]+/.exec(r.stderr)?.[0]}`, `${r.code} ${r.stderr}`);
  },
  async "cli.extract"(c) {
    const dir = freshDir("cx");
    try {
      const r = await capture(["extract", c.path, ...offsetArgs(c.opts), "-o", dir, "--json"]);
      cliCheck(r, false);
      if (r.code !== 0) await noBlockFiles(dir, `mrc extract exited ${r.code}`);
      return r.code === 0
        ? `0 ${r.stdout.split(dir).join("DIR")}`
        : new Refused(
            `exit 1 ${/ERR_[A-Z_]+/.exec(r.stderr)?.[0]}`,
            `${r.code} ${r.stderr.split(dir).join("DIR")}`,
          );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** Targets that break each invariant on purpose, so a test can check the campaign catches them. */
const SELFTESTS = {
  async "selftest.untyped"() {
    try {
      throw new TypeError("selftest: not a MappedRamError");
    } catch (e) {
      return typedCheck(e);
    }
  },
  async "selftest.hang"() {
    // a synchronous loop that never yields: only terminating the worker ends it
    for (;;) {}
  },
  async "selftest.memory"() {
    const chunks = [];
    for (let i = 0; i < 24; i++) chunks.push(new Uint8Array(16 * 1024 * 1024).fill(i + 1));
    await new Promise((r) => setTimeout(r, 50));
    return `${chunks.length}`;
  },
  async "selftest.leftover"() {
    await writeFile(join(tmp, "stray.partial"), "left behind");
    return "ok";
  },
};

function fingerprintOf(v) {
  if (v instanceof Refused) return `refused ${v.fingerprint}`;
  return v instanceof impl.MappedRamError ? `error ${v.code} ${v.message}` : v;
}

async function runTarget(name, c) {
  const started = performance.now();
  try {
    const v = await (TARGETS[name] ?? SELFTESTS[name])(c);
    const ms = performance.now() - started;
    if (v instanceof impl.MappedRamError || v instanceof Refused)
      return { target: name, status: "typed", code: v.code, ms };
    return { target: name, status: "ok", ms };
  } catch (e) {
    const ms = performance.now() - started;
    if (e instanceof Broken) return { target: name, status: "fail", kind: e.kind, detail: e.message, ms };
    const err = e instanceof Error ? e : new Error(String(e));
    return {
      target: name,
      status: "fail",
      kind: "harness",
      detail: `${err.name}: ${err.message}\n${err.stack ?? ""}`,
      ms,
    };
  }
}

/** The unmutated seed through the long-lived sources; must equal the first answer. */
async function reuseCheck(seed, name) {
  const c = { source: seed.memSource, oracleSource: seed.oracleSource, path: seed.path, opts: seed.opts };
  let fp;
  try {
    fp = fingerprintOf(await TARGETS[name](c));
  } catch (e) {
    fp = `broken ${e instanceof Error ? e.message : String(e)}`;
  }
  const first = seed.baseline.get(name);
  if (first === undefined) {
    seed.baseline.set(name, fp);
    return undefined;
  }
  return fp === first
    ? undefined
    : `the unmutated seed now gives ${fp.slice(0, 300)}, at start ${first.slice(0, 300)}`;
}

for (const seed of seeds) for (const name of targets) if (TARGETS[name]) await reuseCheck(seed, name);

/** In-place writes only: patch the working copy and the working file, return how to undo it. */
async function applyInPlace(seed, edits) {
  const undo = [];
  const fh = await open(seed.path, "r+");
  try {
    for (const e of edits) {
      const n = Math.max(0, Math.min(e.bytes.length, seed.work.length - e.at));
      if (n === 0) continue;
      undo.push({ at: e.at, bytes: seed.work.slice(e.at, e.at + n) });
      seed.work.set(e.bytes.subarray(0, n), e.at);
      await fh.write(e.bytes, 0, n, e.at);
    }
  } finally {
    await fh.close();
  }
  return async () => {
    const f = await open(seed.path, "r+");
    try {
      for (const u of undo.reverse()) {
        seed.work.set(u.bytes, u.at);
        await f.write(u.bytes, 0, u.bytes.length, u.at);
      }
    } finally {
      await f.close();
    }
  };
}

function applyAll(bytes, edits) {
  let b = bytes;
  for (const e of edits) {
    if (e.op === "replace") b = e.bytes;
    else if (e.op === "truncate") b = b.subarray(0, Math.min(e.size, b.length));
    else if (e.op === "write") {
      b = b.slice();
      const n = Math.max(0, Math.min(e.bytes.length, b.length - e.at));
      if (n > 0) b.set(e.bytes.subarray(0, n), e.at);
    } else {
      const at = Math.min(e.at, b.length);
      const out = new Uint8Array(b.length - Math.min(e.remove, b.length - at) + e.insert.length);
      out.set(b.subarray(0, at));
      out.set(e.insert, at);
      out.set(b.subarray(Math.min(b.length, at + e.remove)), at + e.insert.length);
      b = out;
    }
  }
  return b;
}

const FILE_TARGETS = new Set(["impl.inspect", "cli.verify", "cli.inspect", "cli.extract"]);
let cases = 0;
parentPort.on("message", async (msg) => {
  if (msg.type !== "case") return;
  const seed = seeds[msg.seed];
  const edits = msg.mutations.flatMap((m) => m.edits);
  const replaced = edits.some((e) => e.op === "replace");
  const inPlace = edits.every((e) => e.op === "write" && e.at + e.bytes.length <= seed.work.length);
  let view;
  let path;
  let undo;
  if (inPlace) {
    undo = await applyInPlace(seed, edits);
    view = seed.work;
    path = seed.path;
  } else {
    view = applyAll(seed.work, edits);
    path = join(tmp, "case.mig");
    // only the targets that open a path need the file
    if (msg.targets.some((t) => FILE_TARGETS.has(t))) await writeFile(path, view);
  }
  const c = {
    source: new impl.MemorySource(view),
    oracleSource: oracle.memorySource(view),
    path,
    opts: replaced ? {} : seed.opts,
  };
  const results = [];
  // this thread's own ArrayBuffer and heap use (the main thread samples the process's RSS)
  const base = process.memoryUsage();
  const peak = { arrayBuffers: base.arrayBuffers, heapUsed: base.heapUsed };
  const sample = () => {
    const m = process.memoryUsage();
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
  };
  const sampler = setInterval(sample, 5);
  try {
    for (const name of msg.targets) {
      parentPort.postMessage({ type: "target", id: msg.id, target: name });
      const r = await runTarget(name, c);
      results.push(r);
    }
  } finally {
    clearInterval(sampler);
    sample();
    await undo?.();
  }
  const memory = {
    arrayBuffers: peak.arrayBuffers - base.arrayBuffers,
    heapUsed: peak.heapUsed - base.heapUsed,
  };
  cases++;
  const broken = results.some((r) => r.status === "fail");
  if (broken || cases % reuseEvery === 0) {
    for (const r of results) {
      if (!TARGETS[r.target]) continue;
      const problem = await reuseCheck(seed, r.target);
      if (problem !== undefined) {
        results.push({ target: r.target, status: "fail", kind: "reuse", detail: problem, ms: 0 });
      }
    }
  }
  // leftovers of any kind in the scratch directory (temp outputs outside the output directories)
  const stray = readdirSync(tmp).filter((n) => !/^seed-\d+\.mig$/.test(n) && n !== "case.mig");
  if (stray.length > 0) {
    results.push({
      target: "scratch",
      status: "fail",
      kind: "leftover",
      detail: `left behind: ${stray.slice(0, 5).join(", ")}`,
      ms: 0,
    });
    for (const n of stray) rmSync(join(tmp, n), { recursive: true, force: true });
  }
  parentPort.postMessage({ type: "done", id: msg.id, results, memory });
});

parentPort.postMessage({ type: "ready" });
