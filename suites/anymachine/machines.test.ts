// Real `pc` and `q35` files from QEMU 10.0.2 (`-nodefaults -S`, guest RAM from a memory-backend-file we
// fill): mapped-ram with and without multifd, at offsets, with each zero-page-detection mode, ordinary
// precopy streams of the same machines, and live saves during which pages are zeroed through qtest.
// Every device section decodes with the file's vmdesc and agrees with it, extract gives back every RAM
// block (the guest RAM equals the image, and QEMU loads the same RAM), reencode is byte-identical, and
// the oracle has nothing to fail.

import { readFile, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDeviceSections } from "../../src/impl/devices.js";
import { blockFileName, extractBlocks } from "../../src/impl/extract.js";
import { inspectDevices, inspectFile } from "../../src/impl/inspect.js";
import { parseStream } from "../../src/impl/reader.js";
import { reencodeFile } from "../../src/impl/reencode.js";
import { FileSource } from "../../src/impl/source.js";
import type { ZeroPageDetection } from "../../src/impl/zero-page.js";
import { checkPath, isFailing } from "../../src/oracle/index.js";
import {
  migrate,
  QemuProcess,
  qemuLoadFile,
  qemuSaveFile,
  setCapabilities,
  setParameters,
  waitForMigration,
} from "../../src/qemu/index.js";
import { run } from "../cli/run.js";
import { describeQemu, suiteQemu } from "../helpers/qemu.js";

const PAGE = 4096;
const RAM_SIZE = 32 * 1024 * 1024;
const PAGES = RAM_SIZE / PAGE;

/**
 * The guest RAM: pages ≡0,4 (mod 5) zero, ≡1 filled with (p % 251) + 1, ≡2 only the last byte 0xaa,
 * ≡3 the page number in the first 8 bytes (LE); pages 2000–2099 zero, 3000–3099 all 0x55.
 */
function guestRam(): Uint8Array {
  const ram = new Uint8Array(RAM_SIZE);
  const view = new DataView(ram.buffer);
  for (let p = 0; p < PAGES; p++) {
    const base = p * PAGE;
    if (p >= 2000 && p < 2100) continue;
    if (p >= 3000 && p < 3100) ram.fill(0x55, base, base + PAGE);
    else if (p % 5 === 1) ram.fill((p % 251) + 1, base, base + PAGE);
    else if (p % 5 === 2) ram[base + PAGE - 1] = 0xaa;
    else if (p % 5 === 3) view.setBigUint64(base, BigInt(p), true);
  }
  return ram;
}

type Machine = "pc" | "q35";

interface Case {
  id: string;
  machine: Machine;
  mappedRam: boolean;
  multifd?: number;
  zpd?: ZeroPageDetection;
  /** `file:` offset; the bytes before it are pre-filled with 'X' and must survive */
  offset?: bigint;
  /** pages 1–8 of "r" are zeroed through qtest while the save runs */
  live?: boolean;
}

const CASES: Case[] = [
  { id: "pc mapped-ram", machine: "pc", mappedRam: true },
  {
    id: "pc mapped-ram multifd 4 at offset 0x1000",
    machine: "pc",
    mappedRam: true,
    multifd: 4,
    offset: 0x1000n,
  },
  {
    id: "pc mapped-ram multifd zero-page-detection none",
    machine: "pc",
    mappedRam: true,
    multifd: 2,
    zpd: "none",
  },
  { id: "q35 mapped-ram at offset 12345", machine: "q35", mappedRam: true, offset: 12345n },
  { id: "q35 mapped-ram multifd 2", machine: "q35", mappedRam: true, multifd: 2 },
  { id: "q35 mapped-ram zero-page-detection legacy", machine: "q35", mappedRam: true, zpd: "legacy" },
  { id: "pc precopy", machine: "pc", mappedRam: false },
  { id: "q35 precopy at offset 1M", machine: "q35", mappedRam: false, offset: 0x100000n },
  { id: "pc live mapped-ram multifd", machine: "pc", mappedRam: true, multifd: 2, live: true },
  { id: "q35 live precopy", machine: "q35", mappedRam: false, live: true },
];

/** The RAM blocks QEMU 10.0.2 migrates for both machines with `memory-backend=r`, in RAM-list order. */
const BLOCKS = [
  "r",
  "/rom@etc/acpi/tables",
  "pc.bios",
  "pc.rom",
  "/rom@etc/table-loader",
  "/rom@etc/acpi/rsdp",
];

const MACHINE_NAME: Record<Machine, string> = { pc: "pc-i440fx-10.0", q35: "pc-q35-10.0" };

interface Saved {
  path: string;
  /** the guest RAM after the save (the live cases change it) */
  ram: Uint8Array;
}

let work: { path: string; cleanup(): Promise<void> };
const saved = new Map<string, Saved>();

function capabilities(c: Case): Record<string, boolean> {
  return { ...(c.mappedRam ? { "mapped-ram": true } : {}), ...(c.multifd ? { multifd: true } : {}) };
}

function parameters(c: Case): Record<string, unknown> {
  return {
    ...(c.multifd ? { "multifd-channels": c.multifd } : {}),
    ...(c.zpd ? { "zero-page-detection": c.zpd } : {}),
  };
}

/** One qtest command over the `-qtest` socket; resolves with QEMU's reply line. */
async function qtest(socket: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    let buf = "";
    s.on("error", reject);
    s.on("data", (d) => {
      buf += d.toString("latin1");
      const reply = buf.split("\n").find((l) => /^(OK|FAIL|ERR)/.test(l));
      if (reply !== undefined) {
        s.end();
        resolve(reply);
      }
    });
    s.write(`${line}\n`);
  });
}

/** A save during which pages 1–8 of the guest RAM are zeroed after QEMU has sent them once. */
async function liveSave(c: Case, image: string, path: string): Promise<void> {
  const socket = join(dirname(path), `qtest-${c.machine}.sock`);
  const qemu = await QemuProcess.start({
    binary: suiteQemu(),
    machine: c.machine,
    memoryBackend: "r",
    memoryBackends: [{ id: "r", size: RAM_SIZE, memPath: image }],
    extraArgs: ["-qtest", `unix:${socket},server=on,wait=off`],
  });
  try {
    await setCapabilities(qemu, capabilities(c));
    // 4 MiB/s: the bulk pass is still running when the pages are zeroed
    await setParameters(qemu, { ...parameters(c), "max-bandwidth": 4 * 1024 * 1024 });
    await migrate(qemu, `file:${path}`);
    for (let i = 0; ; i++) {
      const info = await qemu.execute("query-migrate");
      if ((info.ram?.transferred ?? 0) > 1024 * 1024) break;
      if (i > 2000) throw new Error("the save did not start sending pages");
      await sleep(5);
    }
    expect(await qtest(socket, "memset 0x1000 0x8000 0")).toBe("OK");
    await setParameters(qemu, { "max-bandwidth": 2 ** 40 });
    const done = await waitForMigration(qemu, 60_000);
    expect(done.status).toBe("completed");
  } finally {
    await qemu.stop();
  }
}

async function save(c: Case, index: number): Promise<Saved> {
  const image = join(work.path, `ram-${index}.img`);
  await writeFile(image, guestRam());
  const path = join(work.path, `file-${index}.mig`);
  if (c.offset !== undefined) {
    // bytes before the offset are kept (ftruncate(offset)), anything after is dropped
    await writeFile(path, new Uint8Array(Number(c.offset) + 4096).fill(0x58));
  }
  if (c.live) {
    await liveSave(c, image, path);
  } else {
    const r = await qemuSaveFile({
      binary: suiteQemu(),
      machine: c.machine,
      memoryBackend: "r",
      backends: [{ id: "r", path: image }],
      capabilities: capabilities(c),
      parameters: parameters(c),
      file: path,
      ...(c.offset === undefined ? {} : { offset: c.offset }),
    });
    expect(r.errorDesc).toBeUndefined();
    expect(r.ok).toBe(true);
  }
  return { path, ram: new Uint8Array(await readFile(image)) };
}

/** The SeaBIOS image QEMU loads as pc.bios, from its data directories. */
async function firmware(): Promise<Uint8Array | undefined> {
  const dirs = [join(dirname(suiteQemu().path), "../share/qemu"), "/usr/share/qemu", "/usr/share/seabios"];
  for (const d of dirs) {
    const bytes = await readFile(join(d, "bios-256k.bin")).catch(() => undefined);
    if (bytes) return new Uint8Array(bytes);
  }
  return undefined;
}

function firstDifferentPage(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let p = 0; p * PAGE < a.length; p++) {
    if (Buffer.compare(a.subarray(p * PAGE, (p + 1) * PAGE), b.subarray(p * PAGE, (p + 1) * PAGE)) !== 0)
      return p;
  }
  return -1;
}

describeQemu("pc and q35 files of QEMU 10.0.2", () => {
  beforeAll(async () => {
    work = await tmpDir({ unsafeCleanup: true, prefix: "mrc-anymachine-" });
    for (const [i, c] of CASES.entries()) saved.set(c.id, await save(c, i));
  }, 180_000);
  afterAll(async () => {
    await work?.cleanup();
  });

  const file = (c: Case) => saved.get(c.id) as Saved;

  describe.each(CASES)("$id", (c) => {
    const offset = c.offset ?? 0n;

    it("decodes every record; every device section walks with the vmdesc and agrees with it", async () => {
      const src = await FileSource.open(file(c).path);
      try {
        const stream = await parseStream(src, { offset });
        expect(stream.configuration?.machineName).toBe(MACHINE_NAME[c.machine]);
        expect(stream.mappedRam).toBe(c.mappedRam);
        expect(stream.end).toBe(src.size);
        expect(stream.ramBlocks.map((b) => b.idstr)).toEqual(BLOCKS);
        const check = await checkDeviceSections(src, stream);
        expect(check.findings).toEqual([]);
        expect(check.located?.offset).toBe(stream.vmdesc?.offset);
        const names = check.devices.map((d) => d.section.idstr);
        expect(names.length).toBe(stream.vmdesc?.value.devices.length);
        expect(names.length).toBeGreaterThan(25);
        expect(names).toEqual(
          expect.arrayContaining(["timer", "cpu", "apic", "hpet", "fw_cfg", "globalstate"]),
        );
        for (const d of check.devices) {
          expect(d.root, d.section.idstr).toBeDefined();
          expect(d.problems, d.section.idstr).toEqual([]);
        }
      } finally {
        await src.close();
      }
    });

    it("extract writes every RAM block; the guest RAM block equals the image", async () => {
      const out = join(work.path, `extract-${CASES.indexOf(c)}`);
      const src = await FileSource.open(file(c).path);
      try {
        const r = await extractBlocks(src, out, { offset });
        expect(r.blocks.map((b) => b.idstr)).toEqual(BLOCKS);
      } finally {
        await src.close();
      }
      const ram = new Uint8Array(await readFile(join(out, blockFileName("r"))));
      expect(firstDifferentPage(ram, file(c).ram)).toBe(-1);
      const bios = new Uint8Array(await readFile(join(out, blockFileName("pc.bios"))));
      const fw = await firmware();
      if (fw) expect(Buffer.compare(bios, fw)).toBe(0);
      else expect(bios.length).toBe(256 * 1024);
      expect((await readFile(join(out, blockFileName("pc.rom")))).length).toBe(128 * 1024);
      expect((await readFile(join(out, blockFileName("/rom@etc/acpi/tables")))).length).toBe(128 * 1024);
    });

    it("reencode writes the file back byte for byte", async () => {
      const out = join(work.path, `reencode-${CASES.indexOf(c)}.mig`);
      const r = await reencodeFile(file(c).path, out, { offset });
      expect(r.firstDifference).toBeUndefined();
      expect(r.identical).toBe(true);
      expect(r.mode).toBe(c.mappedRam ? "mapped-ram" : "precopy");
      expect(r.vmdescFromValue).toBe(true);
      expect(r.devices).toBeGreaterThan(25);
      if (c.mappedRam) {
        expect(r.zeroPageDetection).toBe(c.zpd === "none" ? "none" : "multifd");
        // pages 1–8 minus the zero ones (5) were sent with data, then found zero: bit clear, data left
        if (c.live) expect(r.stalePages).toBeGreaterThan(0);
        else expect(r.stalePages).toBe(0);
      }
    });

    if (c.mappedRam) {
      it("the oracle (mrc verify) has no fail and no nonstrict finding", async () => {
        const report = await checkPath(file(c).path, { offset });
        const bad = report.findings.filter((f) => f.severity !== "info");
        expect(bad).toEqual([]);
        expect(isFailing(report.findings, true)).toBe(false);
      });
    }
  });

  it("QEMU loads the same guest RAM that extract writes", async () => {
    const c = CASES[1] as Case;
    const loaded = await qemuLoadFile({
      binary: suiteQemu(),
      machine: c.machine,
      memoryBackend: "r",
      backends: [{ id: "r", size: RAM_SIZE }],
      capabilities: capabilities(c),
      file: file(c).path,
      offset: c.offset ?? 0n,
    });
    try {
      expect(loaded.errorDesc).toBeUndefined();
      expect(loaded.ok).toBe(true);
      const image = loaded.backends[0]?.path as string;
      const ram = new Uint8Array(await readFile(image));
      const ours = new Uint8Array(await readFile(join(work.path, "extract-1", blockFileName("r"))));
      expect(firstDifferentPage(ram, ours)).toBe(-1);
    } finally {
      await loaded.cleanup();
    }
  });

  it("inspect lists every device section with name, instance, version and size", async () => {
    const c = CASES[0] as Case;
    const report = await inspectFile(file(c).path);
    const full = report.records.filter((r) => r.kind === "full");
    const src = await FileSource.open(file(c).path);
    try {
      const stream = await parseStream(src);
      const devices = stream.vmdesc?.value.devices ?? [];
      expect(full.map((r) => [r.idstr, r.instanceId, r.versionId])).toEqual(
        devices.map((d) => [d.name, d.instance_id, d.version]),
      );
    } finally {
      await src.close();
    }
    for (const r of full) expect(r.size).toBeGreaterThan(0);
    expect(report.deviceCheck).toEqual({ sections: full.length, decoded: full.length, findings: [] });
    // the two PIC instances are two sections
    expect(full.filter((r) => r.idstr === "i8259").map((r) => r.instanceId)).toEqual([0, 1]);
  });

  it("inspect --device dumps decoded fields as JSON", async () => {
    const c = CASES[3] as Case;
    const hpet = await inspectDevices(file(c).path, "hpet", { offset: c.offset ?? 0n });
    expect(hpet).toHaveLength(1);
    // hw/timer/hpet.c: three timers by default; the stopped VM never programmed them
    expect(hpet[0]?.fields).toMatchObject({ num_timers_save: 3, config: "0x0" });
    expect(hpet[0]?.fields).toMatchObject({ timer: [{ tn: 0 }, { tn: 1 }, { tn: 2 }] });
    const gs = await inspectDevices(file(c).path, "globalstate", { offset: c.offset ?? 0n });
    // "prelaunch\0" padded to 32 bytes: runstate of a -S VM
    expect(gs[0]?.fields).toMatchObject({
      runstate: Buffer.from("prelaunch").toString("hex") + "00".repeat(32 - 9),
    });
    const cli = await run(["inspect", file(c).path, "--offset", String(c.offset), "--device", "ich9_ahci"]);
    expect(cli.code).toBe(0);
    const dump = JSON.parse(cli.stdout) as Array<{ idstr: string; fields: Record<string, unknown> }>;
    expect(dump.map((d) => d.idstr)).toEqual(["0000:00:1f.2/ich9_ahci"]);
    expect(Object.keys(dump[0]?.fields ?? {})).toContain("parent_obj");
  });

  it("mrc reencode through the CLI: exit 0 and the same bytes", async () => {
    const c = CASES[7] as Case;
    const out = join(work.path, "cli-reencode.mig");
    const r = await run(["reencode", file(c).path, "--offset", "1M", "-o", out, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ mode: "precopy", identical: true });
    expect(Buffer.compare(await readFile(out), await readFile(file(c).path))).toBe(0);
  });
});
