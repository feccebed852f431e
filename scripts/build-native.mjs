// Builds the optional native I/O helper (native/mrc-io.c) into dist/native/mrc-io.node with the C
// compiler ($CC, else cc) and the headers of the Node that runs this script. Without either, mrc runs
// the same copy in JS: this prints one line saying so and exits 0, unless MRC_REQUIRE_NATIVE=1 (CI),
// where it fails. The module is written beside its place and renamed, so no half-built file is loaded.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "native", "mrc-io.c");
const outDir = join(root, "dist", "native");
const target = join(outDir, "mrc-io.node");
const partial = `${target}.${process.pid}.partial`;
const required = process.env.MRC_REQUIRE_NATIVE === "1";

/** Node's own headers: <prefix>/include/node, where <prefix>/bin holds this node. */
function nodeHeaders() {
  const dir = resolve(dirname(process.execPath), "..", "include", "node");
  return existsSync(join(dir, "node_api.h")) ? dir : undefined;
}

function skip(why) {
  const line = `build-native: ${why}; mrc extract copies pages in JS instead (slower on files with many runs)`;
  if (required) {
    console.error(`${line}\nbuild-native: MRC_REQUIRE_NATIVE=1, so this is an error`);
    process.exit(1);
  }
  console.warn(line);
  rmSync(target, { force: true });
  process.exit(0);
}

if (process.platform !== "linux") skip(`not built on ${process.platform} (it uses Linux's sendfile)`);
const headers = nodeHeaders();
if (headers === undefined)
  skip(`no node_api.h under ${resolve(dirname(process.execPath), "..", "include", "node")}`);
const cc = process.env.CC || "cc";
mkdirSync(outDir, { recursive: true });
try {
  execFileSync(
    cc,
    [
      "-O2",
      "-std=c11",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-shared",
      "-fPIC",
      `-I${headers}`,
      "-o",
      partial,
      source,
    ],
    { stdio: ["ignore", "inherit", "pipe"] },
  );
  renameSync(partial, target);
} catch (e) {
  rmSync(partial, { force: true });
  const err = /** @type {{ code?: string, stderr?: Buffer }} */ (e);
  skip(err.code === "ENOENT" ? `no C compiler (${cc})` : `${cc} failed: ${String(err.stderr ?? e).trim()}`);
}
