#!/usr/bin/env node
// npm run golden:update [-- [--cases PATTERN] [--refresh]]
// Regenerates golden/ from src/conformance/golden/definitions.ts (after `npm run build`): QEMU-made
// cases with the installed QEMU 10.0.2 (MRC_QEMU or qemu-system-x86_64 on PATH), writer-made cases
// with the reference writer. A QEMU-made golden whose new file is equivalent (its compare mode) is kept
// unless --refresh. Refused when CI is set: CI checks the goldens, it never rewrites them.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const USAGE = "usage: npm run golden:update [-- [--cases PATTERN] [--refresh]]\n";
if (process.env.CI) {
  process.stderr.write(
    "golden:update: refused because CI is set (goldens are made on a developer machine and committed)\n",
  );
  process.exit(2);
}
const args = process.argv.slice(2);
let cases;
let refresh = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--cases" && i + 1 < args.length) cases = args[++i];
  else if (args[i] === "--refresh") refresh = true;
  else {
    process.stderr.write(`golden:update: unknown argument ${args[i]}\n${USAGE}`);
    process.exit(2);
  }
}
const root = resolve(fileURLToPath(import.meta.url), "../..");
const { updateGolden } = await import("../dist/conformance/golden/update.js");
const { idMatcher } = await import("../dist/conformance/match.js");
const { findQemu } = await import("../dist/qemu/index.js");
try {
  const qemu = await findQemu();
  const result = await updateGolden({
    corpusDir: resolve(root, "golden"),
    ...(qemu ? { qemu } : {}),
    ...(cases ? { only: idMatcher(cases) } : {}),
    refresh,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const tail = cases
    ? ""
    : `, removed ${result.removedCases.length} stale cases and ${result.removedBlobs.length} blobs; blobs total ${result.blobBytes} bytes`;
  process.stdout.write(`wrote ${result.written.length} cases${tail}\n`);
} catch (e) {
  process.stderr.write(`golden:update: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
