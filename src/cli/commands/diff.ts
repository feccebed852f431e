// `mrc diff`: compare two migration files by meaning — exit 0 when equal, 1 when they differ,
// 2 when either cannot be read (like cmp(1) and diff(1), so scripts can tell "differ" from "broken").
import type { Command } from "commander";
import { diffFiles } from "../../diff/diff.js";
import { formatDiff } from "../../diff/format.js";
import { EXIT_USAGE, formatError, parsePositiveInt, parseSize, styleFor } from "../common.js";
import { progressFor } from "../progress.js";

interface DiffFlags {
  offset?: bigint;
  offsetA?: bigint;
  offsetB?: bigint;
  maxRanges: number;
  json?: boolean;
}

function optionalOffset(offset: bigint | undefined): { offset?: bigint } {
  return offset === undefined ? {} : { offset };
}

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description("compare two migration files by meaning (exit 0 equal, 1 different, 2 unreadable)")
    .argument("<A>", "first migration file")
    .argument("<B>", "second migration file")
    .option(
      "--offset <N>",
      "file: offset where both streams start (default: after a libvirt save-image header, else 0)",
      parseSize,
    )
    .option("--offset-a <N>", "file: offset of A's stream (overrides --offset)", parseSize)
    .option("--offset-b <N>", "file: offset of B's stream (overrides --offset)", parseSize)
    .option(
      "--max-ranges <N>",
      "most page ranges listed per block (counts stay complete)",
      parsePositiveInt(1, 1_000_000),
      100,
    )
    .option("--json", "one JSON document (shape in docs/CLI.md); never mixed with progress")
    .addHelpText(
      "after",
      [
        "",
        "Compares configuration and capabilities, the RAM block list, each block's pages (as loaded:",
        "a clear bitmap bit is a zero page) and bitmap, device sections, commands and the vmdesc.",
        "Offsets may differ between the files; empty SECTION_PART counts are only noted.",
        "",
        "Example:",
        "  mrc diff before.mig after.mig --offset-b 0x1000 --json",
      ].join("\n"),
    )
    .action(async (a: string, b: string, f: DiffFlags, cmd: Command) => {
      const progress = progressFor(cmd, "diff");
      try {
        const report = await diffFiles(
          { path: a, ...optionalOffset(f.offsetA ?? f.offset) },
          { path: b, ...optionalOffset(f.offsetB ?? f.offset) },
          { maxRanges: f.maxRanges, onProgress: progress.update },
        );
        progress.finish();
        process.stdout.write(
          f.json ? `${JSON.stringify(report, null, 2)}\n` : formatDiff(report, styleFor(process.stdout)),
        );
        process.exitCode = report.equal ? 0 : 1;
      } catch (e) {
        // An unreadable or invalid file is trouble (2), never "differ" (1).
        progress.finish();
        process.stderr.write(`${formatError(e)}\n`);
        process.exitCode = EXIT_USAGE;
      }
    });
}
