#!/usr/bin/env node
// `npm run fuzz -- --minutes M`: the long mutation campaign (suites/fuzz) run locally. Builds dist/ (the
// campaign runs the built tools in a worker thread), runs suites/fuzz/mutation.test.ts with the budget, and
// prints the report: cases tried per target, findings (with replay commands and shrunk counterexamples)
// and the seed. Mutated files of findings are kept in out/fuzz-findings/.
//
//   --minutes M        time budget (default 10)
//   --seed S           fast-check seed (default: FC_SEED or 20261126); `--seed random` draws one and prints it
//   --replay K         run only case K of that seed (what a finding's "replay" line says)
//   --targets A,B      only these targets (impl.parse, impl.extract, impl.inspect, oracle.check,
//                      cli.verify, cli.inspect, cli.extract)
//   --all-targets      every target on every case (default: reader and oracle on every case, others in turn)
//   --no-build         use dist/ as it is
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const usage = (msg) => {
  process.stderr.write(
    `fuzz: ${msg}\nusage: npm run fuzz -- [--minutes M] [--seed S|random] [--replay K] [--targets A,B] [--all-targets] [--no-build]\n`,
  );
  process.exit(2);
};

const minutes = Number(opt("minutes") ?? "10");
if (!Number.isFinite(minutes) || minutes <= 0) usage("--minutes must be a positive number");
let seedText = opt("seed") ?? process.env.FC_SEED ?? "20261126";
// The only place a seed is drawn at random, on request, and always printed so the run can be replayed.
if (seedText === "random") seedText = String(randomInt(2 ** 31 - 1));
if (!/^-?\d+$/.test(seedText)) usage("--seed must be an integer or random");
const replay = opt("replay");
if (replay !== undefined && !/^\d+$/.test(replay)) usage("--replay must be a case number");

if (!args.includes("--no-build")) {
  const b = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  if (b.status !== 0) process.exit(2);
}

const findings = join(root, "out", "fuzz-findings");
mkdirSync(findings, { recursive: true });
const report = join(root, "out", "fuzz-report.txt");
rmSync(report, { force: true });
process.stdout.write(
  `fuzz: ${minutes} min, FC_SEED=${seedText}${replay === undefined ? "" : `, replaying case ${replay}`}\n`,
);
const env = {
  ...process.env,
  FC_SEED: seedText,
  FUZZ_MINUTES: String(minutes),
  FUZZ_FINDINGS_DIR: findings,
  FUZZ_REPORT: report,
  ...(replay === undefined ? {} : { FUZZ_REPLAY: replay }),
  ...(opt("targets") === undefined ? {} : { FUZZ_TARGETS: opt("targets") }),
  ...(args.includes("--all-targets") ? { FUZZ_ALL_TARGETS: "1" } : {}),
};
const run = spawnSync(
  "npx",
  [
    "vitest",
    "run",
    "suites/fuzz/mutation.test.ts",
    "--reporter=dot",
    `--testTimeout=${Math.ceil(minutes * 60_000 + 600_000)}`,
  ],
  { cwd: root, env, stdio: ["ignore", "ignore", "inherit"] },
);
let text = "";
try {
  text = readFileSync(report, "utf8");
} catch {
  text = "fuzz: the campaign ended without a report (see the errors above)\n";
}
process.stdout.write(text);
process.stdout.write(`fuzz: seed ${seedText}; findings' files in ${findings}\n`);
process.exit(run.status ?? 2);
