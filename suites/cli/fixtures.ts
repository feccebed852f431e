// Migration files for the CLI suites, written by the reference writer (src/impl/save.ts) from
// deterministic images: the spec's section 8 pattern and small variations of it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { demoImage } from "../../src/cli/commands/demo.js";
import { planSave, type SaveOptions, writeMigrationFile } from "../../src/impl/save.js";
import type { FileSource } from "../../src/impl/source.js";
import { type SavePlan, saveMappedRam } from "../../src/impl/writer.js";

export const PAGE = 4096;

/** The spec section 8 image: 2048 pages, 562 zero, 1486 not (spec 8). */
export function specImage(pages = 2048): Uint8Array {
  return demoImage(pages);
}

/** A temp directory for this test file, removed after it. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `mrc-${prefix}-`));
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

let counter = 0;

/**
 * Writes `image` (block `idstr`, or several blocks) and saves it as a migration file in `dir`;
 * returns the migration file's path.
 */
export async function saveFile(
  dir: string,
  blocks: Array<{ idstr: string; image: Uint8Array }>,
  opts: Omit<SaveOptions, "path" | "blocks"> = {},
): Promise<string> {
  const n = counter++;
  const specs: Array<{ idstr: string; image: string }> = [];
  for (const b of blocks) {
    const image = join(dir, `img-${n}-${b.idstr.replace(/[^A-Za-z0-9]/g, "_")}.bin`);
    await writeFile(image, b.image);
    specs.push({ idstr: b.idstr, image });
  }
  const path = join(dir, `mig-${n}.mig`);
  await writeMigrationFile({ ...opts, path, blocks: specs });
  return path;
}

/** Like `saveFile`, but `edit` may change the writer's plan (capabilities, vmdesc, …) before saving. */
export async function saveWithPlan(
  dir: string,
  blocks: Array<{ idstr: string; image: Uint8Array }>,
  edit: (plan: SavePlan) => void,
): Promise<string> {
  const n = counter++;
  const specs: Array<{ idstr: string; image: string }> = [];
  for (const b of blocks) {
    const image = join(dir, `img-${n}-${b.idstr.replace(/[^A-Za-z0-9]/g, "_")}.bin`);
    await writeFile(image, b.image);
    specs.push({ idstr: b.idstr, image });
  }
  const path = join(dir, `mig-${n}.mig`);
  const sources = new Map<string, FileSource>();
  try {
    const plan = await planSave({ path, blocks: specs }, sources);
    edit(plan);
    await saveMappedRam(path, plan);
  } finally {
    for (const s of sources.values()) await s.close();
  }
  return path;
}
