// CI's regeneration check: every QEMU-made golden is made again with the installed QEMU and must match
// (bytes; the RAM image for pc/q35, whose device state carries clocks; validity for live saves). Our
// writer never remakes these; `npm run golden:update` (refused under CI) is the only way to change them.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { dir } from "tmp-promise";
import { afterAll, beforeAll, expect, it } from "vitest";
import { qemuWrite } from "../../src/conformance/adapters/qemu.js";
import { classify } from "../../src/conformance/classify.js";
import { GoldenFiles, loadCorpus } from "../../src/conformance/corpus.js";
import { GOLDEN_DEFS } from "../../src/conformance/golden/definitions.js";
import { GOLDEN_QEMU_VERSION } from "../../src/conformance/golden/update.js";
import { type FileCase, isQemuMade } from "../../src/conformance/model.js";
import { formatVersion } from "../../src/qemu/index.js";
import { describeQemu, qemu, suiteQemu } from "../helpers/qemu.js";

const CORPUS = resolve(fileURLToPath(new URL("../../", import.meta.url)), "golden");
const QEMU_IDS = GOLDEN_DEFS.filter((d) => d.by === "qemu").map((d) => d.id);
/** Byte comparisons hold for the QEMU release the goldens come from. */
const sameRelease = qemu !== undefined && formatVersion(qemu.version) === GOLDEN_QEMU_VERSION;

describeQemu("QEMU-made goldens regenerate with the installed QEMU", () => {
  let work: { path: string; cleanup(): Promise<void> };
  let goldens: GoldenFiles;
  let cases: Map<string, FileCase>;
  beforeAll(async () => {
    work = await dir({ prefix: "mrc-regen-", unsafeCleanup: true });
    goldens = new GoldenFiles(CORPUS, work.path);
    cases = new Map(
      (await loadCorpus(CORPUS)).filter((c): c is FileCase => c.kind === "file").map((c) => [c.id, c]),
    );
  });
  afterAll(async () => {
    await work.cleanup();
  });

  for (const id of QEMU_IDS) {
    it.skipIf(!sameRelease)(`${id} (QEMU ${GOLDEN_QEMU_VERSION})`, async () => {
      const c = cases.get(id);
      if (!c || !isQemuMade(c)) throw new Error(`${id} is not a QEMU-made case in golden/cases`);
      const result = await qemuWrite(c, await goldens.path(c), { binary: suiteQemu(), extraArgs: [] });
      expect(classify(c, { role: "write", implementation: "qemu", result })).toMatchObject({
        status: "pass",
      });
    });
  }
});
