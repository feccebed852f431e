#!/usr/bin/env node
// npm run bench [-- --sizes 1G,4G --patterns random,half,sparse --runs 3 --quick --keep --dir DIR]
//
// Issue 9: `mrc save`, `mrc extract` and `mrc verify` against QEMU 10.0.2 doing the same work on the same
// data in the same run (run after `npm run build`; it drives dist/ and the installed QEMU).
//   save    `mrc save` vs QEMU `migrate file:` from a stopped `-M none` VM whose RAM is the image
//           (memory-backend-file share=on, max-bandwidth unlimited): mapped-ram alone, multifd 1/2/4
//   load    `mrc extract` vs QEMU `migrate-incoming file:` of the same file into a fresh RAM file
//   verify  `mrc verify FILE` (and `--ram`) vs `cat FILE > /dev/null` and `sha256sum FILE`
//   others  peak RSS and time of inspect, diff, layout, reencode and send → receive with multifd 4 and
//           255 (no QEMU counterpart)
//   socket  multifd over a unix socket (packets): `mrc send` → QEMU and QEMU → `mrc receive` against
//           QEMU → QEMU, for each multifd channel count
// Runs alternate (QEMU, mrc, QEMU, mrc, ...) and the median of --runs is reported, with the peak
// resident memory of every `mrc` process. Results go to bench/results.json (bench/README.md explains).
// Images are deterministic: AES-128-CTR keystream under a constant key for page contents and a
// 32-bit integer hash of the page index to choose zero pages. No Math.random, no clock in the data.
import { execFile, spawn } from "node:child_process";
import { createCipheriv } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, rm, rmdir, stat, statfs, truncate, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";

const root = resolve(fileURLToPath(import.meta.url), "../..");
let MRC_MAIN = join(root, "dist/bin/mrc.js");
const PAGE = 4096;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const execFileP = promisify(execFile);
/**
 * mrc's environment: ours without NODE_EXTRA_CA_CERTS. With it set (as CI images and proxies often
 * do), node reads and parses that CA bundle before any JavaScript runs — about 35 ms on the 2-CPU VM —
 * and mrc never opens a TLS connection. main() measures start-up both ways and records it.
 */
const MRC_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_EXTRA_CA_CERTS"));

const USAGE = `usage: npm run bench -- [options]   (after npm run build)
  --sizes LIST       image sizes, e.g. 1G,4G (default 1G,4G; 4G is skipped with a note when disk is short)
  --patterns LIST    random,half,sparse (default all): no zero page / 50 % / 95 % zero pages, scattered
  --runs N           timed runs per measurement, alternating with QEMU; the median is reported (default 3)
  --channels LIST    save/load configurations: 0 = mapped-ram alone, N = multifd with N channels (default 0,1,2,4)
  --ops LIST         save,load,verify,others,socket (default all); others: peak RSS and time of inspect,
                     diff, layout, reencode and send → receive (multifd 4 and 255), one run each;
                     socket: mrc send → QEMU and QEMU → mrc receive against QEMU → QEMU over a unix
                     socket (multifd channels only)
  --dist DIR         the build to measure (default dist/; e.g. a copy of an older build, for before/after)
  --qemu-ram DIR     where QEMU's destination RAM file goes for load (default /dev/shm: memory, as a
                     VM's RAM is; falls back to --dir when /dev/shm is missing or too small)
  --extract-dir DIR  where mrc extract writes its block file for load (default: the same directory as
                     QEMU's destination RAM, so both write onto the same filesystem)
  --quick            smoke test: 256M, 1 run (sizes/runs can still be given)
  --dir DIR          where images and outputs go (default bench/out/work)
  --out FILE         results file (default bench/results.json; with --quick bench/out/results-quick.json)
  --no-check         skip the correctness checks (byte-identical save, extract == image)
  --keep             keep images and outputs
`;

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: "string" },
      patterns: { type: "string" },
      runs: { type: "string" },
      channels: { type: "string" },
      ops: { type: "string" },
      dist: { type: "string" },
      "qemu-ram": { type: "string" },
      "extract-dir": { type: "string" },
      quick: { type: "boolean", default: false },
      dir: { type: "string" },
      out: { type: "string" },
      "no-check": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const sizes = (values.sizes ?? (values.quick ? "256M" : "1G,4G")).split(",").map(parseSizeArg);
  const patterns = (values.patterns ?? "random,half,sparse").split(",");
  for (const p of patterns) if (!(p in PATTERNS)) throw new Error(`unknown pattern ${p}`);
  const runs = Number(values.runs ?? (values.quick ? 1 : 3));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive whole number`);
  const channels = (values.channels ?? "0,1,2,4").split(",").map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`bad channel count ${s}`);
    return n;
  });
  const ops = (values.ops ?? "save,load,verify,others,socket").split(",");
  for (const o of ops) {
    if (!["save", "load", "verify", "others", "socket"].includes(o))
      throw new Error(`unknown operation ${o}`);
  }
  if (ops.includes("load") && !ops.includes("save"))
    throw new Error("load and verify need save (they use QEMU's file)");
  if ((ops.includes("verify") || ops.includes("others")) && !ops.includes("save"))
    throw new Error("load, verify and others need save (they use QEMU's file)");
  return {
    ops,
    dist: resolve(values.dist ?? join(root, "dist")),
    qemuRam: values["qemu-ram"] === undefined ? undefined : resolve(values["qemu-ram"]),
    extractDir: values["extract-dir"] === undefined ? undefined : resolve(values["extract-dir"]),
    sizes,
    patterns,
    runs,
    channels,
    quick: values.quick,
    dir: resolve(values.dir ?? join(root, "bench/out/work")),
    out: resolve(
      values.out ?? join(root, values.quick ? "bench/out/results-quick.json" : "bench/results.json"),
    ),
    check: !values["no-check"],
    keep: values.keep,
  };
}

function parseSizeArg(s) {
  const m = /^([0-9]+)([MG])$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s} (use e.g. 256M, 1G, 4G)`);
  const n = Number(m[1]) * (m[2].toUpperCase() === "G" ? GiB : MiB);
  if (n === 0 || n % (2 * MiB) !== 0) throw new Error(`size ${s} must be a positive multiple of 2M`);
  return n;
}

function sizeLabel(n) {
  return n % GiB === 0 ? `${n / GiB}G` : `${n / MiB}M`;
}

// ---- deterministic images -------------------------------------------------------------------------

/** murmur3 fmix32 of the page index: a well-mixed, seedless, deterministic page selector. */
function fmix32(x) {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Which pages are zero; every other page holds keystream bytes (never all zero in practice). */
const PATTERNS = {
  random: { zeroPercent: 0, isZero: () => false },
  half: { zeroPercent: 50, isZero: (i) => fmix32(i ^ 0x9e3779b9) % 100 < 50 },
  sparse: { zeroPercent: 95, isZero: (i) => fmix32(i ^ 0x7f4a7c15) % 100 < 95 },
};

/** Writes the image (zero pages written as zeros, not holes); returns its count of non-zero pages. */
async function generateImage(path, size, pattern) {
  const sel = PATTERNS[pattern];
  // constant key and IV: the same bytes every run
  const cipher = createCipheriv("aes-128-ctr", Buffer.alloc(16, 0x6d), Buffer.alloc(16, 0x72));
  const chunk = 8 * MiB;
  const zeros = Buffer.alloc(chunk);
  const fh = await open(path, "w", 0o600);
  let nonZero = 0;
  try {
    for (let at = 0; at < size; at += chunk) {
      const n = Math.min(chunk, size - at);
      const buf = cipher.update(zeros.subarray(0, n));
      const first = at / PAGE;
      for (let p = 0; p < n / PAGE; p++) {
        if (sel.isZero(first + p)) buf.fill(0, p * PAGE, (p + 1) * PAGE);
        else nonZero++;
      }
      await fh.write(buf, 0, n, at);
    }
  } finally {
    await fh.close();
  }
  return nonZero;
}

// ---- processes --------------------------------------------------------------------------------------

const HAVE_TIME = existsSync("/usr/bin/time");
/** Fallback when /usr/bin/time is missing: the mrc process reports its own peak RSS on exit. */
const RSS_HOOK =
  "data:text/javascript,import{writeFileSync}from'node:fs';process.on('exit',()=>{const u=process.resourceUsage();writeFileSync(process.env.MRC_BENCH_RSS,u.maxRSS+' '+(u.userCPUTime+u.systemCPUTime)/1000)})";

/** Measured runs so far: each writes its own rss file (send and receive are measured at once). */
let rssRuns = 0;

/**
 * Runs a command to completion: wall time (performance.now around spawn→exit) and, with `measure`, the
 * peak resident set in KiB and CPU time (user + system) of the process: GNU time's %M %U %S (wait4's
 * rusage); without /usr/bin/time, node processes report process.resourceUsage() on exit instead.
 */
async function runTimed(cmd, args, { measure = false, stdout = "pipe", env: baseEnv = process.env } = {}) {
  const rssFile = join(workDir, `.rss-${process.pid}-${++rssRuns}`);
  let argv = [cmd, ...args];
  const env = { ...baseEnv };
  const viaTime = measure && HAVE_TIME;
  const viaHook = measure && !HAVE_TIME && cmd === process.execPath;
  if (viaTime) argv = ["/usr/bin/time", "-f", "%M %U %S", "-o", rssFile, ...argv];
  else if (viaHook) {
    argv = [cmd, "--import", RSS_HOOK, ...args];
    env.MRC_BENCH_RSS = rssFile;
  }
  const t0 = performance.now();
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", stdout, "pipe"], env });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const code = await new Promise((res, rej) => {
    child.once("error", rej);
    child.once("close", (c) => res(c));
  });
  const ms = performance.now() - t0;
  let maxRssKiB;
  let cpuMs;
  if (viaTime || viaHook) {
    const fields = (await readFile(rssFile, "utf8")).trim().split("\n").at(-1).split(" ").map(Number);
    await rm(rssFile, { force: true });
    maxRssKiB = fields[0];
    cpuMs = viaTime ? (fields[1] + fields[2]) * 1000 : fields[1];
  }
  return { code, ms, maxRssKiB, cpuMs, stdout: out, stderr: err };
}

/** CPU time (user + system, all threads) a live process has used so far, from /proc/PID/stat. */
async function procCpuMs(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields 14 and 15 (utime, stime) in clock ticks; USER_HZ is 100 on Linux
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Writes back dirty pages of earlier runs (sync(1)) so one run's writeback does not land in the next. */
async function settle() {
  await execFileP("sync");
}

/** One measured `mrc -q ARGS` run, in mrc's environment (MRC_ENV), whatever its exit code. */
function mrcRun(args) {
  return runTimed(process.execPath, [MRC_MAIN, "-q", ...args], { measure: true, env: MRC_ENV });
}

async function mrc(args) {
  await settle();
  const r = await mrcRun(args);
  if (r.code !== 0 && !(args[0] === "verify" && r.code === 1)) {
    throw new Error(`mrc ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  }
  return r;
}

async function sameFiles(a, b) {
  const r = await execFileP("cmp", ["-s", a, b]).then(
    () => 0,
    (e) => e.code,
  );
  return r === 0;
}

// ---- QEMU -------------------------------------------------------------------------------------------

let Q; // dist/qemu/index.js
let qemuBinary;

const QEMU_LIMITS = { timeoutMs: 3_600_000, commandTimeoutMs: 600_000, quitGraceMs: 120_000 };

function caps(channels) {
  return channels > 0 ? { "mapped-ram": true, multifd: true } : { "mapped-ram": true };
}

/**
 * Times one migration of a started QEMU: `setup` sets capabilities and parameters (not timed), `begin` sends migrate / migrate-incoming; the time runs until
 * query-migrate (polled every 2 ms) says completed. CPU time is QEMU's over the same span. QEMU is
 * stopped afterwards, and its exit is checked.
 */
async function timedMigration(qemu, what, setup, begin) {
  let result;
  try {
    await setup();
    await settle();
    const cpu0 = await procCpuMs(qemu.pid);
    const t0 = performance.now();
    await begin();
    const done = await completed(qemu, what);
    const ms = performance.now() - t0;
    const cpu1 = await procCpuMs(qemu.pid);
    result = { ms, cpuMs: cpu1 - cpu0, totalTimeMs: done.raw["total-time"] };
  } catch (e) {
    await qemu.stop();
    throw e;
  }
  await stopChecked(qemu);
  return result;
}

/** A `-M none` QEMU, stopped (-S), whose RAM is the file `memPath`; `incoming`: with -incoming defer. */
function startQemu(memPath, size, { incoming = false } = {}) {
  return Q.QemuProcess.start({
    binary: qemuBinary,
    machine: "none",
    memoryBackend: "r",
    memoryBackends: [{ id: "r", size, memPath }],
    ...(incoming ? { incoming: true } : {}),
    ...QEMU_LIMITS,
  });
}

/** A fresh RAM file for a QEMU destination: `size` bytes, sparse, all zero. */
async function freshRam(ram, size) {
  await rm(ram, { force: true });
  await writeFile(ram, new Uint8Array(0));
  await truncate(ram, size);
}

/** QEMU saves `image` (the RAM of a stopped `-M none` VM) to `file`; query-migrate total-time is kept too. */
async function qemuSave(image, size, file, channels) {
  await rm(file, { force: true });
  const qemu = await startQemu(image, size);
  return timedMigration(
    qemu,
    "save",
    async () => {
      await Q.setCapabilities(qemu, caps(channels));
      await Q.setParameters(qemu, {
        "max-bandwidth": Q.UNLIMITED_BANDWIDTH,
        ...(channels > 0 ? { "multifd-channels": channels } : {}),
      });
    },
    () => Q.migrate(qemu, Q.fileUri(file)),
  );
}

/** QEMU loads `file` into a fresh (sparse, zero) RAM file `ram`. */
async function qemuLoad(file, size, ram, channels) {
  await freshRam(ram, size);
  const qemu = await startQemu(ram, size, { incoming: true });
  return timedMigration(
    qemu,
    "load",
    async () => {
      await Q.setCapabilities(qemu, caps(channels));
      if (channels > 0) await Q.setParameters(qemu, { "multifd-channels": channels });
    },
    () => Q.migrateIncoming(qemu, Q.fileUri(file), { exitOnError: false }),
  );
}

/** Stops a QEMU and fails when it did not exit cleanly. */
async function stopChecked(qemu) {
  const run = await qemu.stop();
  if (run.error) throw run.error;
}

/**
 * A QEMU destination of a socket migration: `-incoming defer`, multifd with `channels` channels (no
 * mapped-ram: packets), its RAM a fresh (sparse, zero) file `ram`, listening on unix:`socket`.
 */
async function qemuSocketDestination(ram, size, socket, channels) {
  await freshRam(ram, size);
  await rm(socket, { force: true });
  const qemu = await startQemu(ram, size, { incoming: true });
  try {
    await Q.setCapabilities(qemu, { multifd: true });
    await Q.setParameters(qemu, { "multifd-channels": channels });
    await Q.migrateIncoming(qemu, `unix:${socket}`, { exitOnError: false });
  } catch (e) {
    await qemu.stop();
    throw e;
  }
  return qemu;
}

/** A QEMU source of a socket migration: a stopped `-M none` VM whose RAM is the image, multifd, unlimited. */
async function qemuSocketSource(image, size, channels) {
  const qemu = await startQemu(image, size);
  try {
    await Q.setCapabilities(qemu, { multifd: true });
    await Q.setParameters(qemu, { "multifd-channels": channels, "max-bandwidth": Q.UNLIMITED_BANDWIDTH });
  } catch (e) {
    await qemu.stop();
    throw e;
  }
  return qemu;
}

/** Waits for a QEMU's migration to end (query-migrate polled every 2 ms); fails unless it completed. */
async function completed(qemu, what) {
  const done = await Q.waitForMigration(qemu, QEMU_LIMITS.commandTimeoutMs, { pollMs: 2 });
  if (done.status !== "completed") throw new Error(`QEMU ${what}: ${done.status} ${done.errorDesc ?? ""}`);
  return done;
}

// ---- statistics and output --------------------------------------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function configName(channels) {
  return channels === 0 ? "mapped-ram" : `multifd ${channels}`;
}

/** One measured thing: its runs, median time and throughput over `bytes`. */
function summarise(tool, bytes, samples, extra = {}) {
  const ms = median(samples.map((s) => s.ms));
  const rss = samples.map((s) => s.maxRssKiB).filter((x) => x !== undefined);
  const cpu = samples.map((s) => s.cpuMs).filter((x) => x !== undefined);
  return {
    tool,
    runsMs: samples.map((s) => Math.round(s.ms * 10) / 10),
    medianMs: Math.round(ms * 10) / 10,
    gibPerS: bytes / GiB / (ms / 1000),
    ...(cpu.length ? { cpuMs: cpu.map((x) => Math.round(x)), medianCpuMs: Math.round(median(cpu)) } : {}),
    ...(rss.length ? { peakRssMiB: Math.max(...rss) / 1024 } : {}),
    ...extra,
  };
}

/**
 * mrc/QEMU with mrc's start-up (node and its modules, measured once per bench) taken off mrc's time, as
 * QEMU's start-up is not in its time: how the two compare once both are running.
 */
function ratioWithoutStartup(qemu, mrcSummary) {
  return qemu.medianMs / Math.max(1, mrcSummary.medianMs - startupMs);
}
let startupMs = 0;

const fmt = (x, d = 2) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
/** median CPU seconds of a summary, or "-" */
const cpuS = (s) => (s.medianCpuMs === undefined ? "-" : (s.medianCpuMs / 1000).toFixed(2));

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map((r) =>
      r.map((v, c) => (c < 3 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join("  "),
    )
    .join("\n");
}

function log(s) {
  process.stdout.write(`${s}\n`);
}

// ---- the benchmark ----------------------------------------------------------------------------------

let workDir;

async function filesystemOf(dir) {
  try {
    const { stdout } = await execFileP("findmnt", ["-n", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS", "-T", dir]);
    const [target, source, fstype, options] = stdout.trim().split(/\s+/);
    return { target, source, fstype, options };
  } catch {
    const mounts = (await readFile("/proc/mounts", "utf8")).split("\n").map((l) => l.split(" "));
    const best = mounts
      .filter((m) => m[1] && (dir === m[1] || dir.startsWith(m[1].endsWith("/") ? m[1] : `${m[1]}/`)))
      .sort((a, b) => b[1].length - a[1].length)[0];
    return best
      ? { target: best[1], source: best[0], fstype: best[2], options: best[3] }
      : { fstype: "unknown" };
  }
}

async function freeBytes(dir) {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Disk a size needs at once: image, QEMU's file, our file, extracted block, QEMU's loaded RAM (+5 %). */
function diskNeeded(size) {
  return size * 5 * 1.05 + GiB;
}

async function benchOne(opts, size, pattern, notes) {
  const tag = `${sizeLabel(size)}-${pattern}`;
  const image = join(workDir, `${tag}.img`);
  const t0 = performance.now();
  const nonZeroPages = await generateImage(image, size, pattern);
  log(
    `\n== ${tag}: ${nonZeroPages} of ${size / PAGE} pages non-zero (generated in ${fmt((performance.now() - t0) / 1000, 1)} s)`,
  );
  const result = {
    size,
    sizeLabel: sizeLabel(size),
    pattern,
    nonZeroPages,
    pages: size / PAGE,
    save: [],
    load: [],
    checks: [],
  };

  // save: QEMU and mrc alternate, in ABBA order (QEMU first on even runs, mrc first on odd ones). Each
  // tool writes one file name, removed before each run. mrc takes K (PART records) from QEMU's last
  // file, so the first pair is compared byte for byte.
  const qfile = join(workDir, `${tag}.qemu.mig`);
  const ofile = join(workDir, `${tag}.mrc.mig`);
  const { readMigrationFile } = await import(join(opts.dist, "impl/reader.js"));
  for (const ch of opts.ops.includes("save") ? opts.channels : []) {
    const q = [];
    const m = [];
    for (let r = 0; r < opts.runs; r++) {
      const runQemu = async () => {
        q.push(await qemuSave(image, size, qfile, ch));
      };
      const runMrc = async () => {
        const parsed = await readMigrationFile(qfile);
        const k = parsed.records.filter((x) => x.kind === "section" && x.type === "part").length;
        await rm(ofile, { force: true });
        const args = ["save", "--block", `r=${image}`, "--part-sections", String(k), "-o", ofile];
        if (ch > 0) args.push("--multifd-channels", String(ch));
        m.push(await mrc(args));
      };
      if (r % 2 === 0) {
        await runQemu();
        await runMrc();
      } else {
        await runMrc();
        await runQemu();
      }
      if (r === 0 && opts.check) {
        const same = await sameFiles(ofile, qfile);
        result.checks.push({ what: `save ${configName(ch)} byte-identical to QEMU`, ok: same });
        if (!same) notes.push(`${tag}: mrc save (${configName(ch)}) differs from QEMU's file`);
      }
    }
    const qs = summarise("qemu", size, q, { totalTimeMs: q.map((x) => x.totalTimeMs) });
    const ms = summarise("mrc", size, m);
    result.save.push({
      config: configName(ch),
      channels: ch,
      qemu: qs,
      mrc: ms,
      ratio: ms.gibPerS / qs.gibPerS,
      ratioWithoutStartup: ratioWithoutStartup(qs, ms),
    });
    log(
      `save ${configName(ch).padEnd(10)} qemu ${fmt(qs.gibPerS)} GiB/s  mrc ${fmt(ms.gibPerS)} GiB/s  ratio ${fmt(ms.gibPerS / qs.gibPerS)}  cpu ${cpuS(qs)}/${cpuS(ms)} s  rss ${fmt(ms.peakRssMiB, 0)} MiB`,
    );
  }
  await rm(ofile, { force: true });

  // load and verify use QEMU's file (the last one written: identical to the others but for K)
  if (opts.ops.includes("load")) await benchLoad(opts, tag, image, size, qfile, result, notes);
  if (opts.ops.includes("verify")) await benchVerify(opts, image, qfile, result, notes, tag);
  if (opts.ops.includes("others")) await benchOthers(opts, image, qfile, result, notes, tag);
  if (opts.ops.includes("socket")) await benchSocket(opts, tag, image, size, result, notes);

  if (!opts.keep) {
    await rm(qfile, { force: true });
    await rm(image, { force: true });
  }
  return result;
}

/** Where QEMU's destination RAM goes: --qemu-ram, else /dev/shm when it has room, else the work dir. */
async function qemuRamDir(opts, size) {
  if (opts.qemuRam !== undefined) return opts.qemuRam;
  if (existsSync("/dev/shm") && (await freeBytes("/dev/shm").catch(() => 0)) > size + GiB) return "/dev/shm";
  return workDir;
}

async function benchLoad(opts, tag, image, size, loadFile, result, notes) {
  // load: QEMU migrate-incoming (each configuration) and mrc extract of the same file, alternating.
  const ramDir = await qemuRamDir(opts, size);
  const ramFs = await filesystemOf(ramDir);
  result.qemuRam = { dir: ramDir, ...ramFs };
  if (ramDir !== "/dev/shm" && opts.qemuRam === undefined) {
    notes.push(`${tag}: /dev/shm too small; QEMU loaded into a RAM file in ${ramDir} (${ramFs.fstype})`);
  }
  const ram = join(ramDir, `mrc-bench-${process.pid}-${tag}.ram`);
  // extract writes where QEMU's RAM goes (the same filesystem), unless told otherwise
  const xbase = opts.extractDir ?? ramDir;
  const xFs = await filesystemOf(xbase);
  result.extractDir = { dir: xbase, ...xFs };
  log(
    `load: QEMU's destination RAM file in ${ramDir} (${ramFs.fstype}); mrc extract writes ${xbase} (${xFs.fstype})`,
  );
  const xdir = join(xbase, `mrc-bench-${process.pid}-${tag}.extract`);
  const extracts = [];
  const loads = [];
  for (const ch of opts.channels) {
    const q = [];
    for (let r = 0; r < opts.runs; r++) {
      const runQemu = async () => {
        q.push(await qemuLoad(loadFile, size, ram, ch));
        await rm(ram, { force: true });
      };
      const runMrc = async () => {
        await rm(xdir, { recursive: true, force: true });
        extracts.push(await mrc(["extract", loadFile, "-o", xdir]));
        if (extracts.length === 1 && opts.check) {
          const same = await sameFiles(join(xdir, "r.bin"), image);
          result.checks.push({ what: "extract equals the image", ok: same });
          if (!same) notes.push(`${tag}: mrc extract differs from the image`);
        }
        await rm(xdir, { recursive: true, force: true });
      };
      if (r % 2 === 0) {
        await runQemu();
        await runMrc();
      } else {
        await runMrc();
        await runQemu();
      }
    }
    loads.push({ ch, q });
  }
  const xs = summarise("mrc extract", size, extracts);
  for (const { ch, q } of loads) {
    const qs = summarise("qemu", size, q);
    result.load.push({
      config: configName(ch),
      channels: ch,
      qemu: qs,
      mrc: xs,
      ratio: xs.gibPerS / qs.gibPerS,
      ratioWithoutStartup: ratioWithoutStartup(qs, xs),
    });
    log(
      `load ${configName(ch).padEnd(10)} qemu ${fmt(qs.gibPerS)} GiB/s  extract ${fmt(xs.gibPerS)} GiB/s  ratio ${fmt(xs.gibPerS / qs.gibPerS)}  cpu ${cpuS(qs)}/${cpuS(xs)} s  rss ${fmt(xs.peakRssMiB, 0)} MiB`,
    );
  }
}

async function benchVerify(opts, image, loadFile, result, notes, tag) {
  // verify: mrc verify vs cat and sha256sum of the same file (rates over the file's size), alternating.
  const fileSize = (await stat(loadFile)).size;
  const devnull = await open("/dev/null", "w");
  const v = { cat: [], sha256sum: [], verify: [], verifyRam: [] };
  try {
    const steps = [
      async () => {
        await settle();
        v.cat.push(await runTimed("cat", [loadFile], { stdout: devnull.fd, measure: true }));
      },
      async () => {
        v.verify.push(await mrc(["verify", loadFile]));
      },
      async () => {
        await settle();
        v.sha256sum.push(await runTimed("sha256sum", [loadFile], { measure: true }));
      },
      async () => {
        v.verifyRam.push(await mrc(["verify", loadFile, "--ram", `r=${image}`]));
      },
    ];
    for (let r = 0; r < opts.runs; r++) {
      for (const step of r % 2 === 0 ? steps : [...steps].reverse()) await step();
    }
  } finally {
    await devnull.close();
  }
  const verdict = v.verify[0].code === 0 && v.verifyRam[0].code === 0;
  result.checks.push({ what: "verify passes QEMU's file", ok: verdict });
  if (!verdict) notes.push(`${tag}: mrc verify reported failures on QEMU's file`);
  const cat = summarise("cat", fileSize, v.cat);
  const sha = summarise("sha256sum", fileSize, v.sha256sum);
  const ver = summarise("mrc verify", fileSize, v.verify);
  const verRam = summarise("mrc verify --ram", fileSize, v.verifyRam);
  result.verify = {
    fileSize,
    cat,
    sha256sum: sha,
    verify: ver,
    verifyRam: verRam,
    ratio: ver.gibPerS / cat.gibPerS,
    ratioRam: verRam.gibPerS / cat.gibPerS,
  };
  log(
    `verify cat ${fmt(cat.gibPerS)} GiB/s  sha256sum ${fmt(sha.gibPerS)} GiB/s  verify ${fmt(ver.gibPerS)} GiB/s (${fmt(ver.gibPerS / cat.gibPerS)} of cat)  verify --ram ${fmt(verRam.gibPerS)} GiB/s  rss ${fmt(ver.peakRssMiB, 0)}/${fmt(verRam.peakRssMiB, 0)} MiB`,
  );
}

/** `path` exists within `ms`, polled every 10 ms. */
async function appears(path, ms) {
  for (const end = performance.now() + ms; performance.now() < end; ) {
    if (existsSync(path)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/**
 * The other commands that read or write whole files, once each on QEMU's file (or the image): their
 * peak RSS (the target is for every command) and wall time. Outputs are checked: reencode must give the
 * file back byte for byte, receive must give the image back.
 */
async function benchOthers(opts, image, loadFile, result, notes, tag) {
  const outDir = opts.extractDir ?? (await qemuRamDir(opts, (await stat(image)).size));
  const reencoded = join(workDir, `${tag}.reencoded.mig`);
  const svg = join(workDir, `${tag}.svg`);
  const received = join(outDir, `mrc-bench-received-${process.pid}`);
  const socket = join(workDir, `.bench-${process.pid}.sock`);
  const others = {};
  const one = (name, r) => {
    others[name] = {
      ms: Math.round(r.ms * 10) / 10,
      peakRssMiB: r.maxRssKiB / 1024,
      cpuMs: Math.round(r.cpuMs),
    };
  };
  try {
    one("inspect --json", await mrc(["inspect", loadFile, "--json"]));
    one("diff (the file against itself)", await mrc(["diff", loadFile, loadFile]));
    one("layout --svg", await mrc(["layout", loadFile, "--svg", svg]));
    one("reencode", await mrc(["reencode", loadFile, "-o", reencoded]));
    const same = await sameFiles(reencoded, loadFile);
    result.checks.push({ what: "reencode gives QEMU's file back", ok: same });
    if (!same) notes.push(`${tag}: mrc reencode differs from QEMU's file`);
    await rm(reencoded, { force: true });
    // send → receive over a unix socket (packets), both processes measured: multifd 4, and 255 (the most
    // QEMU allows: the memory of both must not grow with the channel count)
    for (const channels of ["4", "255"]) {
      await rm(socket, { force: true });
      await rm(received, { recursive: true, force: true });
      const listening = (async () => {
        await settle();
        return mrcRun([
          "receive",
          "--listen",
          `unix:${socket}`,
          "--multifd-channels",
          channels,
          "-o",
          received,
        ]);
      })();
      if (!(await appears(socket, 10_000))) throw new Error("mrc receive did not listen within 10 s");
      const sent = await mrcRun([
        "send",
        "--block",
        `r=${image}`,
        "--multifd-channels",
        channels,
        "--to",
        `unix:${socket}`,
      ]);
      const got = await listening;
      if (sent.code !== 0 || got.code !== 0) {
        throw new Error(
          `mrc send/receive exited ${sent.code}/${got.code}: ${sent.stderr.trim()} ${got.stderr.trim()}`,
        );
      }
      one(`send (multifd ${channels}, unix socket)`, sent);
      one(`receive (multifd ${channels}, unix socket)`, got);
      const back = await sameFiles(join(received, "r.bin"), image);
      result.checks.push({ what: `send → receive (multifd ${channels}) gives the image back`, ok: back });
      if (!back) notes.push(`${tag}: mrc receive (multifd ${channels}) did not give the image back`);
    }
  } finally {
    await rm(svg, { force: true });
    await rm(reencoded, { force: true });
    await rm(received, { recursive: true, force: true });
    await rm(socket, { force: true });
  }
  result.others = others;
  log(
    `others: ${Object.entries(others)
      .map(([k, v]) => `${k} ${fmt(v.ms / 1000)} s ${fmt(v.peakRssMiB, 0)} MiB`)
      .join(", ")}`,
  );
}

/**
 * multifd over a unix socket, for each channel count N > 0 (--channels), three ways in turn (the order
 * rotates each run): QEMU → QEMU, `mrc send` → QEMU and QEMU → `mrc receive`. A QEMU destination loads
 * into a fresh RAM file where QEMU's load does (/dev/shm), `mrc receive` writes its block file where
 * extract does. Times: QEMU → QEMU from `migrate` to the destination's `completed`; send from spawning
 * mrc (start-up included) to the destination's `completed`; receive from `migrate` to mrc's exit (it was
 * started and listening before, as the QEMU destination was). The first run of each is checked: the QEMU
 * destination's RAM after `mrc send`, and `mrc receive`'s block, must equal the image.
 */
async function benchSocket(opts, tag, image, size, result, notes) {
  const channelCounts = opts.channels.filter((c) => c > 0);
  if (channelCounts.length === 0) {
    notes.push(`${tag}: socket skipped (it needs a multifd channel count in --channels)`);
    return;
  }
  const ramDir = await qemuRamDir(opts, size);
  const ram = join(ramDir, `mrc-bench-${process.pid}-${tag}.socket.ram`);
  const received = join(opts.extractDir ?? ramDir, `mrc-bench-${process.pid}-${tag}.received`);
  const socket = join(workDir, `.bench-${process.pid}-socket.sock`);
  const uri = `unix:${socket}`;
  result.socket = [];
  try {
    for (const ch of channelCounts) {
      const qq = [];
      const sent = [];
      const got = [];
      const qemuToQemu = async () => {
        const dest = await qemuSocketDestination(ram, size, socket, ch);
        try {
          const src = await qemuSocketSource(image, size, ch);
          try {
            await settle();
            const cpu0 = (await procCpuMs(src.pid)) + (await procCpuMs(dest.pid));
            const t0 = performance.now();
            await Q.migrate(src, uri);
            await completed(dest, "destination");
            const ms = performance.now() - t0;
            const cpuMs = (await procCpuMs(src.pid)) + (await procCpuMs(dest.pid)) - cpu0;
            await completed(src, "source");
            qq.push({ ms, cpuMs });
          } finally {
            await stopChecked(src);
          }
        } finally {
          await stopChecked(dest);
          await rm(ram, { force: true });
        }
      };
      const mrcSendToQemu = async () => {
        const dest = await qemuSocketDestination(ram, size, socket, ch);
        try {
          await settle();
          const t0 = performance.now();
          const run = mrcRun([
            "send",
            "--block",
            `r=${image}`,
            "--multifd-channels",
            String(ch),
            "--to",
            uri,
          ]);
          await completed(dest, "destination of mrc send");
          const ms = performance.now() - t0;
          const r = await run;
          if (r.code !== 0) throw new Error(`mrc send exited ${r.code}: ${r.stderr.trim()}`);
          sent.push({ ...r, ms });
          if (sent.length === 1 && opts.check) {
            const same = await sameFiles(ram, image);
            result.checks.push({ what: `mrc send (multifd ${ch}): QEMU received the image`, ok: same });
            if (!same) notes.push(`${tag}: QEMU's RAM after mrc send (multifd ${ch}) differs from the image`);
          }
        } finally {
          await stopChecked(dest);
          await rm(ram, { force: true });
        }
      };
      const qemuToMrcReceive = async () => {
        await rm(received, { recursive: true, force: true });
        await rm(socket, { force: true });
        await settle();
        const run = mrcRun(["receive", "--listen", uri, "--multifd-channels", String(ch), "-o", received]);
        if (!(await appears(socket, 10_000))) throw new Error("mrc receive did not listen within 10 s");
        const src = await qemuSocketSource(image, size, ch);
        try {
          const t0 = performance.now();
          await Q.migrate(src, uri);
          const r = await run;
          const ms = performance.now() - t0;
          if (r.code !== 0) throw new Error(`mrc receive exited ${r.code}: ${r.stderr.trim()}`);
          await completed(src, "source to mrc receive");
          got.push({ ...r, ms });
          if (got.length === 1 && opts.check) {
            const same = await sameFiles(join(received, "r.bin"), image);
            result.checks.push({ what: `mrc receive (multifd ${ch}) gives the image back`, ok: same });
            if (!same) notes.push(`${tag}: mrc receive (multifd ${ch}) did not give the image back`);
          }
        } finally {
          await stopChecked(src);
          await rm(received, { recursive: true, force: true });
        }
      };
      const steps = [qemuToQemu, mrcSendToQemu, qemuToMrcReceive];
      for (let r = 0; r < opts.runs; r++) {
        for (let k = 0; k < steps.length; k++) await steps[(r + k) % steps.length]();
      }
      const qs = summarise("qemu → qemu", size, qq);
      const ss = summarise("mrc send → qemu", size, sent);
      const rs = summarise("qemu → mrc receive", size, got);
      result.socket.push({
        config: configName(ch),
        channels: ch,
        qemu: qs,
        send: ss,
        receive: rs,
        sendRatio: ss.gibPerS / qs.gibPerS,
        sendRatioWithoutStartup: ratioWithoutStartup(qs, ss),
        receiveRatio: rs.gibPerS / qs.gibPerS,
      });
      log(
        `socket ${configName(ch).padEnd(10)} qemu→qemu ${fmt(qs.gibPerS)} GiB/s  send→qemu ${fmt(ss.gibPerS)} GiB/s (${fmt(ss.gibPerS / qs.gibPerS)})  qemu→receive ${fmt(rs.gibPerS)} GiB/s (${fmt(rs.gibPerS / qs.gibPerS)})  rss ${fmt(ss.peakRssMiB, 0)}/${fmt(rs.peakRssMiB, 0)} MiB`,
      );
    }
  } finally {
    await rm(ram, { force: true });
    await rm(received, { recursive: true, force: true });
    await rm(socket, { force: true });
  }
}

function printTables(results, fsInfo) {
  const rows = [
    [
      "size",
      "pattern",
      "operation",
      "qemu GiB/s",
      "mrc GiB/s",
      "mrc/qemu",
      "w/o start-up",
      "qemu cpu s",
      "mrc cpu s",
      "mrc peak RSS MiB",
    ],
  ];
  for (const r of results) {
    for (const s of r.save) {
      rows.push([
        r.sizeLabel,
        r.pattern,
        `save ${s.config}`,
        fmt(s.qemu.gibPerS),
        fmt(s.mrc.gibPerS),
        fmt(s.ratio),
        fmt(s.ratioWithoutStartup),
        cpuS(s.qemu),
        cpuS(s.mrc),
        fmt(s.mrc.peakRssMiB, 0),
      ]);
    }
    for (const l of r.load) {
      rows.push([
        r.sizeLabel,
        r.pattern,
        `load ${l.config} / extract`,
        fmt(l.qemu.gibPerS),
        fmt(l.mrc.gibPerS),
        fmt(l.ratio),
        fmt(l.ratioWithoutStartup),
        cpuS(l.qemu),
        cpuS(l.mrc),
        fmt(l.mrc.peakRssMiB, 0),
      ]);
    }
  }
  log(
    `\nsave and load: GiB of guest RAM per second, median of runs; files on ${fsInfo.fstype} (${fsInfo.source} at ${fsInfo.target})`,
  );
  log(table(rows));
  const vrows = [
    [
      "size",
      "pattern",
      "file GiB",
      "cat GiB/s",
      "sha256sum GiB/s",
      "verify GiB/s",
      "verify/cat",
      "verify --ram GiB/s",
      "--ram/cat",
      "verify cpu s",
      "peak RSS MiB",
    ],
  ];
  for (const r of results) {
    const v = r.verify;
    if (v === undefined) continue;
    vrows.push([
      r.sizeLabel,
      r.pattern,
      fmt(v.fileSize / GiB, 3),
      fmt(v.cat.gibPerS),
      fmt(v.sha256sum.gibPerS),
      fmt(v.verify.gibPerS),
      fmt(v.ratio),
      fmt(v.verifyRam.gibPerS),
      fmt(v.ratioRam),
      cpuS(v.verify),
      `${fmt(v.verify.peakRssMiB, 0)} / ${fmt(v.verifyRam.peakRssMiB, 0)}`,
    ]);
  }
  if (vrows.length > 1) {
    log("\nverify: GiB of file per second, median of runs (peak RSS: verify / verify --ram)");
    log(table(vrows));
  }
  const srows = [
    [
      "size",
      "pattern",
      "channels",
      "qemu→qemu GiB/s",
      "send→qemu GiB/s",
      "send/qemu",
      "w/o start-up",
      "qemu→receive GiB/s",
      "receive/qemu",
      "cpu s: qemu→qemu, send, receive",
      "peak RSS MiB: send, receive",
    ],
  ];
  for (const r of results) {
    for (const x of r.socket ?? []) {
      srows.push([
        r.sizeLabel,
        r.pattern,
        x.config,
        fmt(x.qemu.gibPerS),
        fmt(x.send.gibPerS),
        fmt(x.sendRatio),
        fmt(x.sendRatioWithoutStartup),
        fmt(x.receive.gibPerS),
        fmt(x.receiveRatio),
        `${cpuS(x.qemu)}, ${cpuS(x.send)}, ${cpuS(x.receive)}`,
        `${fmt(x.send.peakRssMiB, 0)}, ${fmt(x.receive.peakRssMiB, 0)}`,
      ]);
    }
  }
  if (srows.length > 1) {
    log(
      "\nmultifd over a unix socket: GiB of guest RAM per second, median of runs (qemu→qemu cpu: both QEMUs)",
    );
    log(table(srows));
  }
  const orows = [["size", "pattern", "command", "s", "cpu s", "peak RSS MiB"]];
  for (const r of results) {
    for (const [name, o] of Object.entries(r.others ?? {})) {
      orows.push([r.sizeLabel, r.pattern, name, fmt(o.ms / 1000), fmt(o.cpuMs / 1000), fmt(o.peakRssMiB, 0)]);
    }
  }
  if (orows.length > 1) {
    log("\nthe other commands, one run each (wall time, CPU time, peak RSS)");
    log(table(orows));
  }
}

async function main() {
  let opts;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  // the bundled bin (scripts/bundle.mjs); a build from before it has only cli/main.js
  MRC_MAIN = existsSync(join(opts.dist, "bin/mrc.js"))
    ? join(opts.dist, "bin/mrc.js")
    : join(opts.dist, "cli/main.js");
  if (!existsSync(MRC_MAIN)) {
    process.stderr.write(`bench: ${MRC_MAIN} is missing; run \`npm run build\` first\n`);
    process.exit(2);
  }
  Q = await import(join(root, "dist/qemu/index.js"));
  qemuBinary = await Q.findQemu();
  if (!qemuBinary) {
    process.stderr.write("bench: no QEMU >= 9.0 found (set MRC_QEMU or put qemu-system-x86_64 on PATH)\n");
    process.exit(2);
  }
  workDir = opts.dir;
  await mkdir(workDir, { recursive: true });
  const fsInfo = await filesystemOf(workDir);
  const qemuVersion = Q.formatVersion(qemuBinary.version);
  log(
    `mrc bench: QEMU ${qemuVersion} (${qemuBinary.path}), node ${process.version}, ${cpus().length} CPUs, ${fmt(totalmem() / GiB, 1)} GiB RAM`,
  );
  log(
    `files in ${workDir} on ${fsInfo.fstype} (${fsInfo.source}, mounted at ${fsInfo.target}); load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  log(
    `peak RSS: ${HAVE_TIME ? "/usr/bin/time -f %M (wait4 ru_maxrss)" : "process.resourceUsage().maxRSS at exit"}; QEMU time: wall clock from migrate/migrate-incoming to status completed (query-migrate polled every 2 ms)`,
  );

  // the fixed cost every mrc run pays (node start-up, one command's modules), for reading small-size ratios;
  // also with the caller's NODE_EXTRA_CA_CERTS, which the timed runs go without (MRC_ENV)
  const startupOf = async (env) => {
    const runs = [];
    for (let i = 0; i < 5; i++)
      runs.push((await runTimed(process.execPath, [MRC_MAIN, "extract", "--help"], { env })).ms);
    return runs.sort((a, b) => a - b)[2];
  };
  startupMs = await startupOf(MRC_ENV);
  const extraCaCerts = process.env.NODE_EXTRA_CA_CERTS;
  const startupWithCaMs = extraCaCerts === undefined ? undefined : await startupOf(process.env);
  log(
    `mrc start-up (node ${relative(root, MRC_MAIN)} extract --help): ${fmt(startupMs / 1000, 3)} s, median of 5${
      extraCaCerts === undefined
        ? ""
        : `; ${fmt(startupWithCaMs / 1000, 3)} s with NODE_EXTRA_CA_CERTS=${extraCaCerts}, which mrc's timed runs go without`
    }`,
  );

  const notes = [];
  const results = [];
  const loadBefore = loadavg();
  for (const size of opts.sizes) {
    const free = await freeBytes(workDir);
    if (free < diskNeeded(size)) {
      const note = `${sizeLabel(size)} skipped: ${fmt(free / GiB, 1)} GiB free in ${workDir}, ${fmt(diskNeeded(size) / GiB, 1)} GiB needed`;
      notes.push(note);
      log(`\n${note}`);
      continue;
    }
    if (totalmem() < 3 * size) {
      // the image, one output and QEMU's RAM must fit in memory for the run to measure the tools
      const note = `${sizeLabel(size)} skipped: ${fmt(totalmem() / GiB, 1)} GiB of memory, ${fmt((3 * size) / GiB, 1)} GiB needed`;
      notes.push(note);
      log(`\n${note}`);
      continue;
    }
    for (const pattern of opts.patterns) results.push(await benchOne(opts, size, pattern, notes));
  }
  // only ever remove the directory itself when empty (it may be a user's --dir)
  if (!opts.keep) await rmdir(workDir).catch(() => undefined);

  if (results.length > 0) printTables(results, fsInfo);
  for (const n of notes) log(`note: ${n}`);
  const out = {
    tool: "mrc bench (scripts/bench.mjs)",
    settings: {
      ops: opts.ops,
      dist: opts.dist,
      sizes: opts.sizes.map(sizeLabel),
      patterns: opts.patterns,
      runs: opts.runs,
      channels: opts.channels,
      quick: opts.quick,
    },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memGiB: totalmem() / GiB,
      node: process.version,
      qemu: { version: qemuVersion, path: qemuBinary.path },
      filesystem: { dir: workDir, ...fsInfo },
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadavg(),
      mrcStartupMs: startupMs,
      nodeExtraCaCerts: extraCaCerts ?? null,
      ...(startupWithCaMs === undefined ? {} : { mrcStartupWithExtraCaCertsMs: startupWithCaMs }),
    },
    method: {
      throughput: "GiB of guest RAM (save, load) or of file (verify) divided by the median wall time",
      mrcTime: `wall clock of the whole \`node ${relative(root, MRC_MAIN)}\` process (spawn to exit), run without NODE_EXTRA_CA_CERTS`,
      ratioWithoutStartup:
        "QEMU's median time / (mrc's median time - mrcStartupMs): mrc/QEMU once both are running",
      qemuTime:
        "wall clock from sending migrate / migrate-incoming to query-migrate status completed (polled every 2 ms); QEMU start-up excluded; save also records query-migrate total-time",
      peakRss: HAVE_TIME
        ? "/usr/bin/time -f %M of each mrc process (KiB → MiB)"
        : "process.resourceUsage().maxRSS at exit",
      cache: "files were just written and fit in the page cache: these are warm-cache numbers",
    },
    notes,
    results,
  };
  await mkdir(resolve(opts.out, ".."), { recursive: true });
  await writeFile(opts.out, `${JSON.stringify(out, null, 2)}\n`);
  log(`\nwrote ${opts.out}`);
  if (notes.some((n) => n.includes("differs") || n.includes("failures"))) process.exitCode = 1;
}

await main();
