// `mrc conformance`: its options and help. The run itself (./conformance-run.ts: the golden corpus
// against the reference implementation, the oracle and a QEMU, plus the capability cases) is imported
// when the command runs, so other commands start without loading QEMU's adapter and the runner.
import type { Command } from "commander";
import { DEFAULT_CONFORMANCE_SEQUENCES } from "../../conformance/caps/defaults.js";
import { QEMU_EXECUTABLE } from "../../qemu/executable.js";
import { parsePositiveInt } from "../common.js";
import { progressFor } from "../progress.js";
import type { ConformanceFlags } from "./conformance-run.js";

export const parseSequences = parsePositiveInt(0, 100_000);
export const parseSeed = parsePositiveInt(0, 2 ** 31 - 1);

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerConformance(program: Command): void {
  program
    .command("conformance")
    .description(
      "run the golden corpus against the reference implementation, the oracle and a QEMU, and the capability cases",
    )
    .option("--qemu <PATH>", `the QEMU under test (default: MRC_QEMU or ${QEMU_EXECUTABLE} on PATH)`)
    .option("--no-qemu", "do not run any QEMU")
    .option("--qemu-arg <ARG>", "append ARG to every QEMU command line (repeatable)", collect, [])
    .option("--cases <PATTERN>", "comma-separated globs over case ids (qemu.none.*, *.truncated.*)")
    .option("--implementations <LIST>", "comma-separated: reference, oracle, qemu (default all)")
    .option(
      "--expectations <FILE>",
      "expectation file for the QEMU under test (default expectations/qemu-<major>.<minor>.txt)",
    )
    .option("--update-expectations", "rewrite the expectation files from this run")
    .option("--report-json <FILE>", "write the JSON report")
    .option("--junit <FILE>", "write JUnit XML")
    .option("--corpus <DIR>", "the golden corpus (default: the package's golden/)")
    .option(
      "--expectations-dir <DIR>",
      "where reference.txt, oracle.txt and qemu-*.txt are (default: expectations/)",
    )
    .option("--jobs <N>", "tasks run in parallel, QEMU processes included", parsePositiveInt(1, 64), 2)
    .option(
      "--caps-sequences <N>",
      `generated capability sequences (default: MRC_CAPS_SEQUENCES or ${DEFAULT_CONFORMANCE_SEQUENCES})`,
      parseSequences,
    )
    .option(
      "--caps-seed <N>",
      "seed of the generated capability sequences (default: MRC_CAPS_SEED)",
      parseSeed,
    )
    .addHelpText(
      "after",
      "\nExit status: 0 when every result matches its expectation, 1 otherwise, 2 on usage errors.\n" +
        "Examples:\n  mrc conformance --qemu ~/qemu/build/qemu-system-x86_64 --report-json report.json\n" +
        "  mrc conformance --cases 'writer.*' --implementations reference,oracle\n" +
        "  mrc conformance --cases 'caps.*' --caps-sequences 1000   # the capability cases only",
    )
    .action(async (flags: ConformanceFlags, cmd: Command) => {
      // -q/--quiet is global: no per-result lines, only the summary
      const quiet = cmd.optsWithGlobals<{ quiet?: boolean }>().quiet === true;
      // UsageError, a broken corpus or expectation file: thrown, and main() exits 2
      const progress = progressFor(cmd, "conformance", { unit: "results" });
      try {
        const { runConformanceCommand } = await import("./conformance-run.js");
        process.exitCode = await runConformanceCommand(
          { ...flags, quiet },
          (s) => process.stdout.write(s),
          process.env,
          progress,
        );
      } finally {
        progress.finish();
      }
    });
}
