// The golden corpus as committed: well-formed cases, blobs that rebuild bit-exact (holes as holes),
// definitions and case files in step, provenance rules, and facts about QEMU's files taken by hand from
// the spec (mapped-ram-format.md sections 2.3, 4.4, 8) rather than from our own output.
import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { dir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GoldenFiles, loadCorpus } from "../../src/conformance/corpus.js";
import { GOLDEN_DEFS, SEQUENCE_CASES } from "../../src/conformance/golden/definitions.js";
import { GOLDEN_QEMU_VERSION, updateGolden } from "../../src/conformance/golden/update.js";
import type { Case, FileCase, QemuFileCase } from "../../src/conformance/model.js";
import { imageDigest } from "../../src/conformance/patterns.js";
import { expectedLayout } from "../../src/oracle/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CORPUS = resolve(ROOT, "golden");
const MiB = 1 << 20;

let cases: Case[];
let files: FileCase[];
let work: { path: string; cleanup(): Promise<void> };
let goldens: GoldenFiles;
const byId = (id: string): FileCase => {
  const c = files.find((f) => f.id === id);
  if (!c) throw new Error(`no case ${id}`);
  return c;
};

beforeAll(async () => {
  cases = await loadCorpus(CORPUS);
  files = cases.filter((c): c is FileCase => c.kind === "file");
  work = await dir({ prefix: "mrc-golden-test-", unsafeCleanup: true });
  goldens = new GoldenFiles(CORPUS, work.path);
});
afterAll(async () => {
  await work.cleanup();
});

describe("golden corpus", () => {
  it("has one well-formed case file per definition and sequence", () => {
    const ids = cases.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(
      [...GOLDEN_DEFS.map((d) => d.id), ...SEQUENCE_CASES.map((s) => s.id)].sort(),
    );
  });

  it("stays in step with its definitions (run `npm run golden:update` after editing them)", () => {
    for (const d of GOLDEN_DEFS) {
      const c = byId(d.id);
      expect({ id: c.id, description: c.description, checks: c.checks, params: c.params }).toEqual({
        id: d.id,
        description: d.description,
        checks: d.checks,
        params: d.params,
      });
      expect(c.expect.verdict).toBe(d.expect.verdict);
      expect(c.expect.findings).toEqual([...d.expect.findings].sort());
      expect(c.expect.info).toEqual(d.expect.info);
      expect(c.expect.reader).toEqual(d.expect.reader);
      expect(c.expect.qemu).toEqual(d.expect.qemu);
      if (d.by === "qemu") expect((c as QemuFileCase).provenance.compare).toBe(d.compare);
    }
    for (const s of SEQUENCE_CASES) expect(cases.find((c) => c.id === s.id)).toEqual(s);
  });

  it("keeps provenance: QEMU-made cases come from QEMU 10.0.2, writer-made ones name their mutations", () => {
    for (const c of files) {
      if (c.provenance.by === "qemu") {
        expect(c.id.startsWith("qemu.")).toBe(true);
        expect(c.provenance.version).toBe(GOLDEN_QEMU_VERSION);
        expect(c.provenance.versionText.startsWith(`QEMU emulator version ${GOLDEN_QEMU_VERSION}`)).toBe(
          true,
        );
        expect(c.provenance.argv).toContain("-S");
        expect(c.provenance.qmp.map((q) => q.execute)).toEqual([
          "migrate-set-capabilities",
          "migrate-set-parameters",
          "migrate",
          "query-migrate",
        ]);
        expect(c.provenance.argv.join(" ")).not.toMatch(/\/tmp\//);
      } else {
        expect(c.id.startsWith("writer.")).toBe(true);
        for (const m of c.provenance.mutations) expect(m.why).not.toBe("");
      }
    }
  });

  it("has a blob for every file, no unreferenced blob, and stays far below 20 MiB", async () => {
    const referenced = new Set(files.map((c) => c.file.blob));
    const present = (await readdir(join(CORPUS, "blobs"))).map((n) => `blobs/${n}`);
    expect([...referenced].sort()).toEqual(present.sort());
    let total = 0;
    for (const b of present) total += (await stat(join(CORPUS, b))).size;
    for (const c of await readdir(join(CORPUS, "cases")))
      total += (await stat(join(CORPUS, "cases", c))).size;
    expect(total).toBeLessThan(20 * MiB);
    expect(total).toBeLessThan(2 * MiB);
  });

  it("rebuilds every golden bit-exact (sha256 checked), zero regions as holes", async () => {
    const distinct = new Map(files.map((c) => [c.file.sha256, c]));
    for (const c of distinct.values()) {
      const path = await goldens.path(c);
      expect((await stat(path)).size).toBe(c.file.size);
    }
    // 64 MiB of zero RAM: the rebuilt 65 MiB file allocates only its few non-zero extents
    const zero = await stat(await goldens.path(byId("qemu.none.zero64m")), { bigint: true });
    expect(zero.size).toBeGreaterThan(64n * BigInt(MiB));
    expect(zero.blocks * 512n).toBeLessThan(256n * 1024n);
  }, 120_000);
});

describe("QEMU-made goldens agree with the spec", () => {
  const block = (id: string, i = 0) => {
    const b = byId(id).expect.layout?.blocks[i];
    if (!b) throw new Error(`${id} has no block ${i}`);
    return b;
  };

  it("the reference file of spec 8.1: 9,438,450 bytes, header 0x63, bitmap 0x7f, pages 0x100000, 1486 pages", () => {
    expect(byId("qemu.none.spec8").file.size).toBe(9438450);
    expect(block("qemu.none.spec8")).toEqual({
      idstr: "r",
      usedLength: "0x800000",
      headerOffset: "0x63",
      bitmapOffset: "0x7f",
      pagesOffset: "0x100000",
      pagesPresent: 1486,
    });
    // spec 8: the pattern has 562 zero and 1486 non-zero pages
    expect(imageDigest(0x800000n, { kind: "spec8" }).nonZeroPages).toBe(1486);
  });

  it("multifd with 1, 2, 4, 8 channels and zero-page-detection legacy give the same bytes (spec 8.2)", () => {
    const sha = byId("qemu.none.spec8").file.sha256;
    for (const id of [
      "qemu.none.spec8.multifd1",
      "qemu.none.spec8.multifd2",
      "qemu.none.spec8.multifd4",
      "qemu.none.spec8.multifd8",
      "qemu.none.spec8.offset0",
      "qemu.none.spec8.zpdLegacy",
      "qemu.none.spec8.zpdLegacy.multifd2",
      "qemu.none.spec8.zpdMultifd.multifd2",
    ]) {
      expect(byId(id).file.sha256, id).toBe(sha);
    }
  });

  it("zero-page-detection=none sets all 2048 bits, with and without multifd (spec 8.2)", () => {
    expect(byId("qemu.none.spec8.zpdNone.multifd2").file.sha256).toBe(
      byId("qemu.none.spec8.zpdNone").file.sha256,
    );
    expect(block("qemu.none.spec8.zpdNone").pagesPresent).toBe(2048);
  });

  it("offsets are absolute and rounded on the absolute position (spec 4.4 table)", () => {
    const table: [string, string, string, string, number][] = [
      ["qemu.none.spec8.offset4k", "0x1063", "0x107f", "0x100000", 0x9004f2],
      ["qemu.none.spec8.offset12345", "0x309c", "0x30b8", "0x100000", 0x9004f2],
      ["qemu.none.spec8.offset1m", "0x100063", "0x10007f", "0x200000", 0xa004f2],
      ["qemu.none.spec8.offset1fff00", "0x1fff63", "0x1fff7f", "0x300000", 0xb004f2],
    ];
    for (const [id, header, bitmap, pages, end] of table) {
      expect(block(id), id).toMatchObject({ headerOffset: header, bitmapOffset: bitmap, pagesOffset: pages });
      expect(byId(id).file.size, id).toBe(end);
    }
  });

  it("keeps the bytes before the offset: an 'X' prefix, and a libvirt header with QEVM at 0x1054e", async () => {
    const x = await readFile(await goldens.path(byId("qemu.none.spec8.offset12345")));
    expect(x.subarray(0, 12345).every((b) => b === 0x58)).toBe(true);
    expect(x.subarray(12345, 12349).toString("latin1")).toBe("QEVM");
    const lv = await readFile(await goldens.path(byId("qemu.none.spec8.libvirt")));
    expect(lv.subarray(0, 16).toString("latin1")).toBe("LibvirtQemudSave");
    expect(lv.subarray(0x1054e, 0x10552).toString("latin1")).toBe("QEVM");
  });

  it('-M none -m 8M names the block "ram" (header 0x65, bitmap 0x81)', () => {
    expect(block("qemu.none.defaultRam8m")).toMatchObject({
      idstr: "ram",
      headerOffset: "0x65",
      bitmapOffset: "0x81",
      pagesPresent: 0,
    });
  });

  it("every -M none layout is the one the oracle's formulas give", () => {
    for (const c of files) {
      if (c.provenance.by !== "qemu" || (c as QemuFileCase).params.machine !== "none") continue;
      const blocks = (c.expect.layout?.blocks ?? []).map((b) => ({
        idstr: b.idstr,
        usedLength: BigInt(b.usedLength),
      }));
      const want = expectedLayout(blocks, { startOffset: BigInt(c.file.offset) });
      expect(
        (c.expect.layout?.blocks ?? []).map((b) => [
          BigInt(b.headerOffset),
          BigInt(b.bitmapOffset),
          BigInt(b.pagesOffset),
        ]),
        c.id,
      ).toEqual(want.blocks.map((b) => [b.headerOffset, b.bitmapOffset, b.pagesOffset]));
    }
  });

  it("pc and q35: every block, even a 4 KiB one, gets its own 1 MiB-aligned slot (spec 2.3)", () => {
    for (const id of ["qemu.pc.stripes16m", "qemu.q35.numa2", "qemu.pc.live16m"]) {
      const blocks = byId(id).expect.layout?.blocks ?? [];
      for (const b of blocks) expect(BigInt(b.pagesOffset) % BigInt(MiB), `${id} ${b.idstr}`).toBe(0n);
      const slots = blocks.map((b) => BigInt(b.pagesOffset));
      expect(new Set(slots).size).toBe(blocks.length);
    }
    // RAM-list order: max_length descending (the ACPI tables block may grow to 2 MiB)
    expect(byId("qemu.pc.stripes16m").expect.layout?.blocks.map((b) => b.idstr)).toEqual([
      "r",
      "/rom@etc/acpi/tables",
      "pc.bios",
      "pc.rom",
      "/rom@etc/table-loader",
      "/rom@etc/acpi/rsdp",
    ]);
  });

  it("the live save recorded guest writes while the save was active", () => {
    for (const id of ["qemu.pc.live16m", "qemu.pc.live16m.zpdNone"]) {
      const p = byId(id).provenance;
      expect(p.by === "qemu" && p.compare).toBe("validity");
      expect(p.by === "qemu" && p.notes?.some((n) => n.startsWith("status after the writes: active"))).toBe(
        true,
      );
    }
  });
});

describe("golden:update", () => {
  it("is refused under CI", async () => {
    await expect(updateGolden({ corpusDir: work.path, env: { CI: "true" } })).rejects.toThrow(
      /refused under CI/,
    );
    const r = await execa(process.execPath, [join(ROOT, "scripts/golden-update.mjs")], {
      reject: false,
      env: { CI: "1" },
      cwd: work.path,
    });
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toContain("refused because CI is set");
  });
});
