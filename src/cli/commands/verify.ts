// `mrc verify`: is this a correct mapped-ram file, and if not, what is wrong and where (src/oracle).
import type { Command } from "commander";
import {
  checkFile,
  type FileByteSource,
  type Finding,
  findingToJSON,
  formatFinding,
  isFailing,
  openFileSource,
  type RamImage,
} from "../../oracle/index.js";
import { collectPair, EXIT_INVALID, EXIT_OK, parseSize, UsageError } from "../common.js";
import { type Progress, progressFor } from "../progress.js";

export interface VerifyFlags {
  offset?: bigint;
  ram: Array<[string, string]>;
  strict?: boolean;
  json?: boolean;
  /** also read the pages whose bit is clear (stale bytes are info); off: only what QEMU would read */
  scanClearPages?: boolean;
}

function summary(findings: readonly Finding[]): string {
  const n = (s: string) => findings.filter((f) => f.severity === s).length;
  return `${n("fail")} fail, ${n("nonstrict")} nonstrict, ${n("info")} info`;
}

/**
 * Check `file` and write the findings with `write`. Returns the exit code: 0 without `fail` (and,
 * with `strict`, without `nonstrict`), 1 otherwise. Usage and I/O errors are thrown (exit 2).
 */
export async function runVerify(
  file: string,
  flags: VerifyFlags,
  write: (s: string) => void,
  progress?: Progress,
): Promise<number> {
  const names = new Set<string>();
  for (const [name] of flags.ram) {
    if (names.has(name)) throw new UsageError(`--ram ${name}= is given twice`);
    names.add(name);
  }
  const opened: FileByteSource[] = [];
  try {
    const ram: RamImage[] = [];
    for (const [idstr, path] of flags.ram) {
      const image = await openFileSource(path);
      opened.push(image);
      ram.push({ idstr, image });
    }
    const src = await openFileSource(file);
    opened.push(src);
    const onProgress = progress?.update;
    const { findings } = await checkFile(src, {
      ram,
      scanClearPages: flags.scanClearPages ?? false,
      ...(flags.offset === undefined ? {} : { offset: flags.offset }),
      ...(onProgress ? { onProgress } : {}),
    });
    progress?.finish();
    if (flags.json) {
      write(`${JSON.stringify(findings.map(findingToJSON), null, 2)}\n`);
    } else {
      for (const f of findings) write(`${formatFinding(f)}\n`);
      write(`${file}: ${summary(findings)}\n`);
    }
    return isFailing(findings, flags.strict ?? false) ? EXIT_INVALID : EXIT_OK;
  } finally {
    progress?.finish();
    for (const s of opened) await s.close();
  }
}

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description(
      "check a mapped-ram migration file with the independent oracle; list what is wrong and where",
    )
    .argument("<FILE>", "migration file")
    .option(
      "--offset <N>",
      "file: offset where the stream starts (default: after a libvirt save-image header, else 0)",
      parseSize,
    )
    .option(
      "--ram <NAME=IMAGE>",
      "block NAME must hold what a save of RAM image IMAGE gives (repeatable)",
      collectPair,
      [],
    )
    .option("--strict", "also fail on nonstrict findings (accepted by QEMU, never written by it)")
    .option("--json", "the findings as a JSON array (offsets as hex strings)")
    .option(
      "--scan-clear-pages",
      "also read the pages whose bitmap bit is clear and report non-zero bytes there (info); by default " +
        "verify reads only what QEMU's loader reads",
    )
    .addHelpText(
      "after",
      "\nExit status: 0 no fail finding (with --strict: no nonstrict either), 1 otherwise, 2 usage or I/O error." +
        "\n\nExample:\n  mrc verify vm.mig --offset 0x1000 --ram r=ram.img --strict",
    )
    .action(async (file: string, flags: VerifyFlags, cmd: Command) => {
      process.exitCode = await runVerify(
        file,
        flags,
        (s) => process.stdout.write(s),
        progressFor(cmd, "verify"),
      );
    });
}
