// Every file QEMU 10.0.2 writes verifies: no `fail`, no `nonstrict` (and, for `-M none`, nothing at
// all), with --ram checking the bitmap and every page against the image QEMU saved. And the other
// way round: QEMU 10.0.2 loading each hand-made corrupt file does what its severity says.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { checkPath, expectedLayout, memorySource } from "../../src/oracle/index.js";
import { qemuLoadFile, qemuSaveFile } from "../../src/qemu/index.js";
import { makeImage } from "../helpers/images.js";
import { describeQemu, suiteQemu } from "../helpers/qemu.js";
import { CORRUPT_CASES } from "./helpers/corrupt-cases.js";

interface QemuCase {
  readonly name: string;
  readonly offset?: bigint;
  readonly multifd?: number;
  readonly zeroPageDetection?: "none" | "legacy";
  readonly machine?: string;
}

const CASES: readonly QemuCase[] = [
  { name: "offset 0" },
  { name: "offset 0x1000", offset: 0x1000n },
  { name: "offset 12345", offset: 12345n },
  { name: "offset 1M", offset: 0x100000n },
  { name: "multifd, 1 channel", multifd: 1 },
  { name: "multifd, 4 channels, offset 0x1000", multifd: 4, offset: 0x1000n },
  { name: "zero-page-detection=none", zeroPageDetection: "none" },
  { name: "zero-page-detection=none with multifd 4", zeroPageDetection: "none", multifd: 4 },
  { name: "zero-page-detection=legacy", zeroPageDetection: "legacy" },
  { name: "a pc machine (30 device sections, walked from the vmdesc)", machine: "pc" },
  { name: "a q35 machine", machine: "q35" },
];

const IMAGE = makeImage("spec8", 2048);

describeQemu("QEMU 10.0.2 files verify", () => {
  let dir = "";
  let imagePath = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mrc-oracle-qemu-"));
    imagePath = join(dir, "r.img");
    await writeFile(imagePath, IMAGE);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const file = join(dir, `${c.name.replace(/[^a-z0-9]+/gi, "-")}.mig`);
    const capabilities: Record<string, boolean> = { "mapped-ram": true };
    const parameters: Record<string, unknown> = {};
    if (c.multifd !== undefined) {
      capabilities.multifd = true;
      parameters["multifd-channels"] = c.multifd;
    }
    if (c.zeroPageDetection !== undefined) parameters["zero-page-detection"] = c.zeroPageDetection;
    const saved = await qemuSaveFile({
      binary: suiteQemu(),
      machine: c.machine ?? "none",
      memoryBackend: "r",
      backends: [{ id: "r", path: imagePath }],
      capabilities,
      parameters,
      file,
      ...(c.offset === undefined ? {} : { offset: c.offset }),
    });
    expect(saved.failure, saved.errorDesc).toBeUndefined();
    expect(saved.ok).toBe(true);

    const offset = c.offset ?? 0n;
    const ram = [{ idstr: "r", image: memorySource(IMAGE) }];
    const report = await checkPath(file, {
      offset,
      ram,
      zeroPageDetection: c.zeroPageDetection === "none" ? "none" : "multifd",
    });
    const serious = report.findings.filter((f) => f.severity !== "info");
    expect(serious.map((f) => `${f.severity} ${f.id} at 0x${f.offset.toString(16)}: ${f.message}`)).toEqual(
      [],
    );
    if (c.machine === undefined) expect(report.findings).toEqual([]);

    const r = report.blocks.find((b) => b.idstr === "r");
    if (c.machine === undefined) {
      const layout = expectedLayout([{ idstr: "r", usedLength: BigInt(IMAGE.length) }], {
        startOffset: offset,
      });
      expect(r).toMatchObject({
        headerOffset: layout.blocks[0]?.headerOffset,
        bitmapOffset: layout.blocks[0]?.bitmapOffset,
        pagesOffset: layout.blocks[0]?.pagesOffset,
      });
    } else {
      expect(r?.pagesOffset).toBe(0x100000n);
    }
  });
});

describeQemu("x-ignore-shared with mapped-ram (spec 5.4)", () => {
  it("QEMU 10.0.2 writes mr->addr, the oracle fails the file, and QEMU 10.0.2 cannot load it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mrc-oracle-xis-"));
    try {
      const file = join(dir, "xis.mig");
      const common = {
        binary: suiteQemu(),
        machine: "none",
        memory: "8M", // private RAM: a shared backend makes the save itself fail
        capabilities: { "mapped-ram": true, "x-ignore-shared": true },
        file,
      };
      const saved = await qemuSaveFile({ ...common, backends: [] });
      expect(saved.ok, saved.errorDesc).toBe(true);
      const report = await checkPath(file);
      // "ram" block record at 0x59 + 16 (the longer capability list): mr->addr after its used_length
      expect(report.findings.map((f) => [f.id, f.offset])).toEqual([
        ["config.capabilities.ignoreShared", 0x75n],
      ]);
      const loaded = await qemuLoadFile({ ...common, backends: [] });
      await loaded.cleanup();
      expect(loaded.ok).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describeQemu("QEMU 10.0.2 loading the hand-made corrupt files agrees with their severity", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mrc-oracle-qemu-load-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const image = makeImage("zeroRuns", 16);
  const run = CORRUPT_CASES.flatMap((c, i) =>
    typeof c.qemu === "string" ? [[c.id, c.what, c, i] as const] : [],
  );

  // fail: rejected, or loads other RAM than the file says; nonstrict/info: loads exactly the RAM
  it.each(run)("%s: %s", async (_id, _what, c, i) => {
    const made = c.make();
    const file = join(dir, `case-${i}.mig`);
    await made.file.saveTo(file);
    const capabilities: Record<string, boolean> = { "mapped-ram": true };
    for (const cap of c.capabilities ?? []) capabilities[cap] = true;
    const loaded = await qemuLoadFile({
      binary: suiteQemu(),
      machine: "none",
      memoryBackend: "r",
      backends: [{ id: "r", size: (c.ramPages ?? 16) * 4096 }],
      capabilities,
      file,
      ...(made.options?.offset === undefined ? {} : { offset: made.options.offset }),
      migrationTimeoutMs: 20_000,
    });
    try {
      const ram = loaded.ok ? new Uint8Array(await readFile(loaded.backends[0]?.path ?? "")) : undefined;
      const got = ram === undefined ? "rejects" : Buffer.compare(ram, image) === 0 ? "loads" : "wrongRam";
      expect(got, loaded.errorDesc).toBe(c.qemu);
    } finally {
      await loaded.cleanup();
    }
  });
});
