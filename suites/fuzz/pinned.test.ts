// Counterexamples the mutation campaign found, pinned (each names the campaign seed and case that found
// it). Built from the writer seeds with the same mutations, and run against the sources directly.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { extractBlocks } from "../../src/impl/extract.js";
import { inspectFile } from "../../src/impl/inspect.js";
import { parseStream } from "../../src/impl/reader.js";
import { MemorySource } from "../../src/impl/source.js";
import { checkFile, memorySource } from "../../src/oracle/index.js";
import { mrc } from "../helpers/cli.js";
import { mapSeed, type SeedMap } from "./fields.js";
import { applyEdits, type Edit } from "./mutations.js";
import { type Seed, writerSeeds } from "./seeds.js";

/** A C0 or C1 control character: a message or finding must hold none. */
const hasControl = (s: string) =>
  [...s].some((ch) => ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f));

let dir: string;
let seeds: Map<string, { seed: Seed; map: SeedMap }>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrc-pinned-"));
  seeds = new Map();
  for (const s of await writerSeeds(dir))
    seeds.set(s.name, { seed: s, map: await mapSeed(s.bytes, s.offset) });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function seedNamed(name: string) {
  const s = seeds.get(name);
  if (!s) throw new Error(`no seed ${name}`);
  return s;
}

function field(map: SeedMap, name: string) {
  const f = map.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name} in ${map.fields.map((x) => x.name).join(", ")}`);
  return f;
}

/** The vmdesc JSON replaced by `json`, its be32 length made to match. */
function withVmdesc(seed: Seed, map: SeedMap, json: string): Uint8Array {
  const v = map.vmdesc;
  if (!v) throw new Error("seed has no vmdesc");
  const body = Uint8Array.from(json, (c) => c.charCodeAt(0));
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, body.length, false);
  const edits: Edit[] = [
    { op: "truncate", size: v.at + 1 },
    { op: "splice", at: v.at + 1, remove: 0, insert: new Uint8Array([...len, ...body]) },
  ];
  return applyEdits(seed.bytes, edits);
}

/** Every tool on `bytes`: a result or a MappedRamError whose message is one printable line. */
async function expectResultOrTypedError(bytes: Uint8Array, offset?: bigint) {
  const opts = offset === undefined ? {} : { offset };
  const outcomes: Array<MappedRamError | "ok"> = [];
  const typed = (e: unknown) => {
    expect(e).toBeInstanceOf(MappedRamError);
    const err = e as MappedRamError;
    expect(err.message.startsWith(`cannot decode ${err.subject}`)).toBe(true);
    expect(hasControl(err.message), err.message).toBe(false);
    outcomes.push(err);
  };
  await parseStream(new MemorySource(bytes), opts).then(() => outcomes.push("ok"), typed);
  const path = join(dir, `case-${outcomes.length}-${bytes.length}.mig`);
  await writeFile(path, bytes);
  await inspectFile(path, opts).then(() => outcomes.push("ok"), typed);
  const out = join(dir, `x-${bytes.length}-${outcomes.length}`);
  await extractBlocks(new MemorySource(bytes), out, opts).then(
    () => outcomes.push("ok"),
    async (e: unknown) => {
      typed(e);
      expect(await readdir(out)).toEqual([]);
    },
  );
  const { findings } = await checkFile(memorySource(bytes), opts);
  for (const f of findings) expect(hasControl(f.message), f.message).toBe(false);
  return { outcomes, findings, path };
}

describe("pinned counterexamples of the mutation campaign", () => {
  // FC_SEED=1, case 290 (shrunk): a vmdesc whose devices list holds null made the device lookup throw
  // "TypeError: Cannot read properties of null (reading 'name')" from parseStream, inspect and extract.
  for (const json of [
    '{"devices": [null]}',
    '{"devices": [5, "x", []]}',
    '{"page_size": 4096, "devices": [{"name": "timer", "fields": 5}]}',
    '{"page_size": 4096, "devices": [{"name": "timer", "instance_id": 0, "fields": [null]}]}',
    '{"devices": [{"name": 7, "instance_id": "0", "vmsd_name": [], "version": {}}]}',
  ]) {
    it(`a vmdesc of another shape (${json}) is a broken vmdesc, not a crash`, async () => {
      const { seed, map } = seedNamed("writer.small");
      const bytes = withVmdesc(seed, map, json);
      const { outcomes, path } = await expectResultOrTypedError(bytes, seed.offset);
      // without a usable vmdesc the -M none devices are decoded from the fixed table: the file still reads
      expect(outcomes).toEqual(["ok", "ok", "ok"]);
      const cli = await mrc(["inspect", path]);
      expect(cli.stderr).toBe("");
      expect(cli.exitCode).toBe(0);
    });
  }

  // FC_SEED=1, case 605 (shrunk): the length byte of the "timer" idstr set to 0xff pulled 255 bytes of the
  // following records — NULs, a newline, the vmdesc — into the error message, which then spanned lines.
  it("an idstr length that swallows the following records gives a one-line message", async () => {
    const { seed, map } = seedNamed("writer.small");
    const f = field(map, 'full "timer".idstr');
    const bytes = applyEdits(seed.bytes, [{ op: "write", at: f.at, bytes: new Uint8Array([0xff]) }]);
    const { outcomes, path } = await expectResultOrTypedError(bytes, seed.offset);
    expect(outcomes.every((o) => o instanceof MappedRamError)).toBe(true);
    expect((outcomes[0] as MappedRamError).subject).toMatch(/^device section "timer\\x00/);
    const cli = await mrc(["inspect", path]);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr.split("\n")).toHaveLength(1);
    expect(cli.stderr).toMatch(
      /^mrc: ERR_UNDECODABLE @0x[0-9a-f]+: cannot decode device section "timer\\x00\\x00/,
    );
  });

  // FC_SEED=1, case 518 (shrunk): 14 bytes deleted in the capabilities subsection name: the "unknown
  // subsection" message quoted a name with a newline and NULs.
  it("a subsection name with control characters gives a one-line message", async () => {
    const { seed, map } = seedNamed("writer.longIdstr");
    const f = field(map, 'subsection "configuration/capabilities".name');
    const bytes = applyEdits(seed.bytes, [
      { op: "splice", at: f.at + 4, remove: 14, insert: new Uint8Array(0) },
    ]);
    const { outcomes } = await expectResultOrTypedError(bytes, seed.offset);
    expect(outcomes.every((o) => o instanceof MappedRamError)).toBe(true);
  });

  // FC_SEED=1, case 299 (shrunk): bytes inserted before the capability list: the oracle's
  // config.capabilities.mappedRamMissing finding quoted the garbage, newline included.
  it("the oracle's findings stay one line when the file's strings hold control characters", async () => {
    const { seed, map } = seedNamed("writer.longIdstr");
    const count = field(map, "capabilities.caps_count");
    const start = field(map, 'start "ram".instance_id');
    const bytes = applyEdits(seed.bytes, [
      { op: "splice", at: start.at, remove: 0, insert: new Uint8Array([0, 0, 0, 0, 0]) },
      { op: "splice", at: count.at + 2, remove: 0, insert: new Uint8Array([0x0a]) },
    ]);
    const { findings } = await expectResultOrTypedError(bytes, seed.offset);
    expect(findings.some((x) => x.severity === "fail")).toBe(true);
  });

  // FC_SEED=5, case 6047 (qemu.pc.live16m; 4 bytes inserted before caps_count): caps_count became huge,
  // and the oracle read that many "capabilities" — one finding each — through the whole file: 12.7 s and
  // ~1 GiB for a 23 MiB file. QEMU's get_capability stops at the first unknown name; so does the oracle.
  it("a huge caps_count does not make the oracle read the whole file as capabilities", async () => {
    const { seed, map } = seedNamed("writer.small");
    const count = field(map, "capabilities.caps_count");
    const bytes = applyEdits(seed.bytes, [
      { op: "write", at: count.at, bytes: new Uint8Array([0, 0x0f, 0, 0]) },
    ]);
    const started = performance.now();
    const { findings } = await expectResultOrTypedError(bytes, seed.offset);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(findings.map((f) => f.id)).toEqual(["config.capabilities.unknown"]);
  });

  // FC_SEED=12, case 9 (the campaign's reader-vs-oracle table): a RAM section with instance_id 1 was read
  // as if it were 0; QEMU's find_se("ram", 1) fails ("Unknown savevm section or instance 'ram' 1") and the
  // oracle says section.ram.instanceId. The reader refuses it now.
  it("a RAM section whose instance_id is not 0 is refused, as QEMU refuses it", async () => {
    const { seed, map } = seedNamed("writer.small");
    const f = field(map, 'start "ram".instance_id');
    const bytes = applyEdits(seed.bytes, [{ op: "write", at: f.at, bytes: new Uint8Array([0, 0, 0, 1]) }]);
    const { outcomes, findings } = await expectResultOrTypedError(bytes, seed.offset);
    for (const o of outcomes) {
      expect(o).toBeInstanceOf(MappedRamError);
      expect((o as MappedRamError).code).toBe("ERR_INVALID_VALUE");
      expect((o as MappedRamError).field).toBe("instance_id");
      expect((o as MappedRamError).message).toMatch(
        /^cannot decode section "ram" at offset 0x40: instance_id must be 0/,
      );
    }
    expect(findings.map((x) => x.id)).toContain("section.ram.instanceId");
  });
});
