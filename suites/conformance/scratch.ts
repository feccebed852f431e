// A temp directory for one conformance test file (made before its tests, removed after them), and
// expectation directories written into it.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir } from "tmp-promise";
import { afterAll, beforeAll } from "vitest";

export interface Scratch {
  /** the directory (valid once the file's tests run) */
  readonly path: string;
  /** Writes `files` (name → text) into a new directory `name` of the scratch; returns its path. */
  expectationsDir(name: string, files: Record<string, string>): Promise<string>;
}

export function scratchDir(prefix: string): Scratch {
  let made: { path: string; cleanup(): Promise<void> } | undefined;
  beforeAll(async () => {
    made = await dir({ prefix, unsafeCleanup: true });
  });
  afterAll(async () => {
    await made?.cleanup();
  });
  const path = () => {
    if (made === undefined) throw new Error("the scratch directory is made before the tests run");
    return made.path;
  };
  return {
    get path() {
      return path();
    },
    async expectationsDir(name, files) {
      const d = join(path(), name);
      await mkdir(d, { recursive: true });
      for (const [file, text] of Object.entries(files)) await writeFile(join(d, file), text);
      return d;
    },
  };
}
