// src/cli/cleanup.ts in process: what is registered is removed on interrupt, what was released is not,
// one failing cleanup does not stop the others, and the handlers exit 130/143.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  installSignalCleanup,
  onInterrupt,
  pendingCleanups,
  removeMatchingOnInterrupt,
  removeOnInterrupt,
  runCleanups,
} from "../../src/cli/cleanup.js";
import { isTempNameOf, tempPathFor } from "../../src/impl/temp-path.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrc-cleanup-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("cleanup registry", () => {
  it("removes registered paths and matching entries; released ones stay; a failing cleanup does not stop the rest", async () => {
    const a = join(dir, "a.partial");
    const b = join(dir, "b.partial");
    const sub = join(dir, "sub");
    mkdirSync(sub);
    writeFileSync(a, "a");
    writeFileSync(b, "b");
    writeFileSync(join(sub, ".mrc-extract-1-0.partial"), "x");
    writeFileSync(join(sub, "keep.bin"), "k");
    removeOnInterrupt(a);
    const releaseB = removeOnInterrupt(b);
    releaseB();
    onInterrupt(() => {
      throw new Error("a cleanup that fails");
    });
    removeMatchingOnInterrupt(sub, (n) => n.startsWith(".mrc-extract-1-"));
    removeMatchingOnInterrupt(join(dir, "never-made"), () => true);
    runCleanups();
    expect(existsSync(a)).toBe(false);
    expect(existsSync(b)).toBe(true);
    expect(await readdir(sub)).toEqual(["keep.bin"]);
    expect(pendingCleanups()).toBe(0);
  });

  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`${signal}: runs the cleanups, then exits ${code}`, () => {
      const f = join(dir, `${signal}.partial`);
      writeFileSync(f, "x");
      const exits: number[] = [];
      const uninstall = installSignalCleanup((c) => exits.push(c));
      const release = removeOnInterrupt(f);
      try {
        process.emit(signal, signal);
      } finally {
        uninstall();
        release();
      }
      expect(exits).toEqual([code]);
      expect(existsSync(f)).toBe(false);
    });
  }
});

describe("temp names", () => {
  it("stay within NAME_MAX next to a NAME_MAX-long target, start with a dot, and are recognised", () => {
    const target = join(dir, "t".repeat(255));
    const tmp = tempPathFor(target, "save", 4242);
    const name = tmp.slice(dir.length + 1);
    expect(name.length).toBeLessThanOrEqual(255);
    expect(name.startsWith(".ttt")).toBe(true);
    expect(name.endsWith(".mrc-save-4242.partial")).toBe(true);
    expect(isTempNameOf(name, 4242)).toBe(true);
    expect(isTempNameOf(name, 4243)).toBe(false);
    expect(isTempNameOf("t.bin", 4242)).toBe(false);
    expect(tempPathFor(join(dir, "vm.mig"), "receive-0", 7)).toBe(
      join(dir, ".vm.mig.mrc-receive-0-7.partial"),
    );
  });
});
