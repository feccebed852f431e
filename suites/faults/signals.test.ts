// Killing a run mid-way (SIGTERM, SIGINT) leaves no temp file, no target and no child QEMU; mrc exits
// 143/130 (src/cli/cleanup.ts). The built CLI on a 1 GiB sparse image, so each command runs long enough to
// be interrupted while it writes.
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MRC_MAIN, mrc } from "../helpers/cli.js";
import { describeQemu } from "../helpers/qemu.js";
import { LIMIT_MS, receiveInBackground } from "./helpers.js";

const GIB = 1024 * 1024 * 1024;
let work: string;
let big: string;
let bigMig: string;
const inputs = new Map<string, string>();
const fingerprint = async (f: string) => {
  const st = await stat(f);
  return `${st.size} ${st.mtimeMs}`;
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "mrc-signals-"));
  // 1 GiB, one non-zero page in 16: sparse on disk, 0.5-2 s to save
  big = join(work, "big.img");
  const fh = await open(big, "w");
  await fh.truncate(GIB);
  const page = new Uint8Array(4096).fill(7);
  for (let p = 0; p < GIB / 4096; p += 16) await fh.write(page, 0, 4096, p * 4096);
  await fh.close();
  bigMig = join(work, "big.mig");
  const r = await mrc(["save", "--block", `r=${big}`, "-o", bigMig], 120_000);
  expect(r.exitCode).toBe(0);
  // inputs are never modified (size and mtime: hashing 2 GiB would cost more than the whole suite)
  for (const f of [big, bigMig]) inputs.set(f, await fingerprint(f));
}, 180_000);

afterAll(async () => {
  for (const [f, h] of inputs) expect(await fingerprint(f), `${f} was modified`).toBe(h);
  await rm(work, { recursive: true, force: true });
}, 60_000);

function start(args: readonly string[]) {
  return execa(process.execPath, [MRC_MAIN, ...args], {
    reject: false,
    timeout: LIMIT_MS * 4,
    stdin: "ignore",
  });
}

/** Waits until `dir` holds an entry matching `match` (the command is writing), or the child ended. */
async function waitForEntry(
  dir: string,
  match: (name: string) => boolean,
  child: { exitCode?: number | null },
) {
  for (let i = 0; i < 2000; i++) {
    const names = await readdir(dir).catch(() => [] as string[]);
    if (names.some(match)) return true;
    if (child.exitCode !== undefined && child.exitCode !== null) return false;
    await sleep(5);
  }
  return false;
}

const EXIT = { SIGTERM: 143, SIGINT: 130 } as const;

describe("interrupting a command that writes an output", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`mrc save of 1 GiB, ${signal} mid-way: exit ${EXIT[signal]}, no temp file, no target`, async () => {
      const dir = join(work, `save-${signal}`);
      await mkdir(dir);
      const child = start(["save", "--block", `r=${big}`, "-o", join(dir, "vm.mig")]);
      const writing = await waitForEntry(dir, (n) => n.startsWith(".vm.mig.mrc-save-"), child);
      expect(writing, "the temp file appeared before the save ended").toBe(true);
      // the pages are being written: with the native helper the save takes ~0.5 s in all
      await sleep(20);
      child.kill(signal);
      const r = await child;
      expect(r.exitCode).toBe(EXIT[signal]);
      expect(await readdir(dir)).toEqual([]);
    });
  }

  it("mrc extract of 1 GiB, SIGTERM mid-way: exit 143, no block file, no temp", async () => {
    const dir = join(work, "extract");
    const child = start(["extract", bigMig, "-o", dir]);
    const writing = await waitForEntry(dir, (n) => n.startsWith(".mrc-extract-"), child);
    expect(writing, "the temp file appeared before the extract ended").toBe(true);
    child.kill("SIGTERM");
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(await readdir(dir)).toEqual([]);
  });

  it("mrc reencode of 1 GiB, SIGINT mid-way: exit 130, no temp, no output", async () => {
    const dir = join(work, "reencode");
    await mkdir(dir);
    const child = start(["reencode", bigMig, "-o", join(dir, "again.mig")]);
    const writing = await waitForEntry(dir, (n) => n.startsWith(".again.mig.mrc-reencode-"), child);
    expect(writing, "the temp file appeared before the reencode ended").toBe(true);
    await sleep(200);
    child.kill("SIGINT");
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(await readdir(dir)).toEqual([]);
  });

  it("mrc receive of 1 GiB, SIGTERM mid-way: exit 143, no block file, no temp", async () => {
    const dir = join(work, "receive");
    const rx = receiveInBackground([
      "--listen",
      `unix:${join(work, "rx.sock")}`,
      "--multifd-channels",
      "2",
      "-o",
      dir,
    ]);
    const to = await rx.address;
    const sent = mrc(["send", "--block", `r=${big}`, "--multifd-channels", "2", "--to", to], LIMIT_MS * 4);
    const writing = await waitForEntry(dir, (n) => n.startsWith(".mrc-receive-"), rx.child);
    expect(writing, "the block file appeared before the receive ended").toBe(true);
    await sleep(200);
    rx.child.kill("SIGTERM");
    const r = await rx.child;
    expect(r.exitCode).toBe(143);
    await sent;
    expect(await readdir(dir)).toEqual([]);
  });
});

/** pids of qemu-system VMs (started with -qmp, not a --version probe) whose parent is `ppid` (from /proc). */
function qemuChildren(ppid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const parent = Number(stat.slice(close + 2).split(" ")[1]);
      if (!comm.startsWith("qemu-system") || parent !== ppid) continue;
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").includes("-qmp")) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

const conformanceThere = (await mrc(["conformance", "--help"])).exitCode === 0;
if (!conformanceThere) console.warn("signals: `mrc conformance` is not registered; the QEMU part is skipped");

describeQemu("interrupting a command that drives QEMU", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it.skipIf(!conformanceThere)(
      `mrc conformance, ${signal} while QEMU runs: exit ${EXIT[signal]}, no QEMU and no temp dir left`,
      async () => {
        const child = start(["conformance", "--implementations", "qemu", "--cases", "qemu.*", "--jobs", "2"]);
        const pid = child.pid as number;
        let qemus: number[] = [];
        for (let i = 0; i < 4000 && qemus.length === 0; i++) {
          qemus = qemuChildren(pid);
          if (child.exitCode !== undefined && child.exitCode !== null) break;
          await sleep(5);
        }
        expect(qemus.length, "a QEMU was started before the run ended").toBeGreaterThan(0);
        const temps = () => readdirSync(tmpdir()).filter((n) => n.includes(`-${pid}-`));
        expect(temps().length, "its private temp dir exists while it runs").toBeGreaterThan(0);
        child.kill(signal);
        const r = await child;
        expect(r.exitCode).toBe(EXIT[signal]);
        for (let i = 0; i < 200 && qemus.some(alive); i++) await sleep(10);
        expect(qemus.filter(alive)).toEqual([]);
        expect(temps()).toEqual([]);
      },
      60_000,
    );
  }
});
