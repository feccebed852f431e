// One hand-made corrupt file per check: reported with its id, its severity and the right offset.
// (The same files through `mrc verify` and its exit codes: cli.test.ts.)
import { describe, expect, it } from "vitest";
import { checkFile, FINDING_CASES, findingCase } from "../../src/oracle/index.js";
import { CORRUPT_CASES } from "./helpers/corrupt-cases.js";

const hex = (v: bigint) => `0x${v.toString(16)}`;

describe("hand-made corrupt files", () => {
  it.each(CORRUPT_CASES.map((c) => [c.id, c.what, c] as const))("%s: %s", async (_id, _what, c) => {
    const { file, options } = c.make();
    const { findings } = await checkFile(file, options ?? {});
    const hit = findings.find((f) => f.id === c.id && f.offset === c.offset);
    const seen = findings.map((f) => `${f.id} at ${hex(f.offset)}`);
    expect(hit, `${c.id} at ${hex(c.offset)} among ${JSON.stringify(seen)}`).toBeDefined();
    expect(hit?.severity).toBe(findingCase(c.id).severity);
    expect(hit?.message.length).toBeGreaterThan(0);
    expect(hit?.message).not.toContain("\n");
    if (c.clean) {
      const worse = findings.filter((f) => f.id !== c.id && f.severity !== "info");
      expect(worse.map((f) => `${f.id} at ${hex(f.offset)}`)).toEqual([]);
    }
  });

  it("each case's QEMU verdict (checked by qemu-files.test.ts) fits its severity", () => {
    for (const c of CORRUPT_CASES) {
      if (typeof c.qemu !== "string") continue;
      const allowed = findingCase(c.id).severity === "fail" ? ["rejects", "wrongRam"] : ["loads"];
      expect(allowed, `${c.id}: ${c.what}`).toContain(c.qemu);
    }
  });

  it("every finding id has a hand-made case", () => {
    const covered = new Set(CORRUPT_CASES.map((c) => c.id));
    expect(FINDING_CASES.map((c) => c.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  it("the vocabulary is well formed: unique dotted ids, a description and a source each", () => {
    const ids = FINDING_CASES.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of FINDING_CASES) {
      expect(c.id).toMatch(/^[a-z]+(\.[a-zA-Z]+)+$/);
      expect(c.description).not.toBe("");
      expect(c.source).not.toBe("");
    }
  });
});
