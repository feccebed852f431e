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
// MRC_NATIVE_OUT_DIR: elsewhere than dist/native (the build script's own test builds into a temp dir)
const outDir = process.env.MRC_NATIVE_OUT_DIR || join(root, "dist", "native");
const target = join(outDir, "mrc-io.node");
const partial = `${target}.${process.pid}.partial`;
const required = process.env.MRC_REQUIRE_NATIVE === "1";

/** Node's own headers: <prefix>/include/node, where <prefix>/bin holds this node. */
function nodeHeaders() {
  const dir = resolve(dirname(process.execPath), "..", "include", "node");
  return existsSync(join(dir, "node_api.h")) ? dir : undefined;
}

/** Says why there is no helper (and what the compiler said, if anything); exits 0, or 1 when required. */
function skip(why, details = "") {
  const line = `build-native: ${why}; mrc does its page I/O in JS instead (slower)`;
  const text = details === "" ? line : `${line}\n${details}`;
  if (required) {
    console.error(`${text}\nbuild-native: MRC_REQUIRE_NATIVE=1, so this is an error`);
    process.exit(1);
  }
  console.warn(text);
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
  const err = /** @type {{ code?: string, status?: number, stderr?: Buffer }} */ (e);
  if (err.code === "ENOENT") skip(`no C compiler (${cc})`);
  skip(`${cc} failed (exit ${err.status ?? "?"})`, String(err.stderr ?? "").trim());
}
