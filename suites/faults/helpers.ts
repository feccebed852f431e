// Shared plumbing of the fault suites: the built CLI in the background (receive), under a file-size limit
// (an injected I/O error: writes past the limit fail with EFBIG), and a tiny tmpfs for disk-full runs.
import { createHash } from "node:crypto";
import { mkdir, readFile, rmdir } from "node:fs/promises";
import { execa } from "execa";
import { MRC_MAIN, type MrcRun } from "../helpers/cli.js";

export const LIMIT_MS = 30_000;

export async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

export { receiveInBackground } from "../helpers/cli.js";

/** `mrc ARGS` with RLIMIT_FSIZE = `bytes`: a write past it fails with EFBIG (Node ignores SIGXFSZ). */
export async function mrcWithFileSizeLimit(bytes: number, args: readonly string[]): Promise<MrcRun> {
  const r = await execa("prlimit", [`--fsize=${bytes}`, process.execPath, MRC_MAIN, ...args], {
    reject: false,
    timeout: LIMIT_MS,
    stdin: "ignore",
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export const havePrlimit = (await execa("prlimit", ["--version"], { reject: false })).exitCode === 0;

/**
 * Mounts a `sizeKiB` tmpfs at `dir` (root only). Returns how to unmount it, or the reason it could not be
 * mounted (then the disk-full tests fall back to the file-size limit).
 */
export async function mountTinyTmpfs(
  dir: string,
  sizeKiB: number,
): Promise<{ unmount(): Promise<void> } | { refused: string }> {
  await mkdir(dir, { recursive: true });
  const r = await execa("mount", ["-t", "tmpfs", "-o", `size=${sizeKiB}k`, "tmpfs", dir], {
    reject: false,
    timeout: 10_000,
  });
  if (r.exitCode !== 0) return { refused: String(r.stderr).trim() || `mount exited ${r.exitCode}` };
  return {
    async unmount() {
      await execa("umount", ["-l", dir], { reject: false, timeout: 10_000 });
      await rmdir(dir).catch(() => undefined);
    },
  };
}

/** A RAM image of `pages` pages, none of them zero (so every page is written). */
export function denseImage(pages: number, salt = 1): Uint8Array {
  const img = new Uint8Array(pages * 4096);
  for (let p = 0; p < pages; p++) img.fill(((p + salt) % 255) + 1, p * 4096, (p + 1) * 4096);
  return img;
}
