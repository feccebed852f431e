// Runs the built `mrc` CLI as a user would: the package's bin, dist/bin/mrc.js (the bundle of dist/cli/main.js,
// scripts/bundle.mjs), built by `npm test` before vitest.
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const MRC_MAIN = fileURLToPath(new URL("../../dist/bin/mrc.js", import.meta.url));

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

/** Hard limit on a background `mrc receive`. */
const RECEIVE_LIMIT_MS = 30_000;

/** `mrc receive ...` in the background; `address` resolves from its first output line. */
export function receiveInBackground(args: readonly string[], prefix: readonly string[] = []) {
  const [cmd, ...rest] = [...prefix, process.execPath, MRC_MAIN, "receive", ...args] as [string, ...string[]];
  const child = execa(cmd, rest, { reject: false, timeout: RECEIVE_LIMIT_MS, stdin: "ignore", buffer: true });
  const address = new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (d: Buffer) => {
      seen += d.toString("utf8");
      const m = /^listening on (\S+)\n/.exec(seen);
      if (m) resolve(m[1] as string);
    });
    void child.then(() => reject(new Error(`mrc receive ended before listening: ${seen}`)));
  });
  address.catch(() => undefined);
  return { child, address };
}
