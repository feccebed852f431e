// Runs the built `mrc` CLI (dist/cli/main.js, built by `npm test` before vitest) as a user would.
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const MRC_MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface MrcRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function mrc(args: readonly string[], timeoutMs = 60_000): Promise<MrcRun> {
  const r = await execa(process.execPath, [MRC_MAIN, ...args], {
    reject: false,
    timeout: timeoutMs,
    stdin: "ignore",
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
