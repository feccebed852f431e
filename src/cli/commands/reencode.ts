// `mrc reencode`: parse a migration file completely and write it back with the reference writers. The
// output must equal the input byte for byte; that is checked, and a difference exits 1.
import type { Command } from "commander";
import { hex } from "../../impl/bytes.js";
import { type ReencodeResult, reencodeFile } from "../../impl/reencode.js";
import { tempPathFor } from "../../impl/temp-path.js";
import { removeOnInterrupt } from "../cleanup.js";
import { EXIT_INVALID, parseSize } from "../common.js";

interface ReencodeFlags {
  offset?: bigint;
  output: string;
  force?: boolean;
  check: boolean;
  json?: boolean;
}

function toJson(r: ReencodeResult): Record<string, unknown> {
  return {
    mode: r.mode,
    input: r.input,
    output: r.output,
    fileSize: hex(r.fileSize),
    devices: r.devices,
    vmdescFromValue: r.vmdescFromValue,
    ...(r.zeroPageDetection === undefined ? {} : { zeroPageDetection: r.zeroPageDetection }),
    ...(r.stalePages === undefined ? {} : { stalePages: r.stalePages }),
    ...(r.runs === undefined ? {} : { runs: r.runs }),
    ...(r.identical === undefined ? {} : { identical: r.identical }),
    ...(r.firstDifference === undefined ? {} : { firstDifference: hex(r.firstDifference) }),
    notes: r.notes,
  };
}

function formatText(r: ReencodeResult): string {
  const lines = [
    `${r.output}: ${r.mode} stream re-encoded, ${r.fileSize} bytes, ${r.devices} device sections from decoded fields`,
  ];
  if (r.zeroPageDetection !== undefined) {
    lines.push(
      `  zero-page-detection ${r.zeroPageDetection}, ${r.stalePages ?? 0} stale pages under clear bits`,
    );
  }
  if (r.runs !== undefined) lines.push(`  ${r.runs} page runs and flushes`);
  if (!r.vmdescFromValue) lines.push("  vmdesc text kept as read");
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (r.identical === true) lines.push(`  identical to ${r.input}`);
  if (r.identical === false) {
    lines.push(`  DIFFERS from ${r.input} at offset ${hex(r.firstDifference ?? 0n)}`);
  }
  return `${lines.join("\n")}\n`;
}

export function registerReencode(program: Command): void {
  program
    .command("reencode")
    .description("parse every record into the model and write it back; the output must equal the input")
    .argument("<FILE>", "migration file (mapped-ram or ordinary precopy)")
    .option("--offset <N>", "file: offset where the stream starts (bytes before it are copied)", parseSize)
    .requiredOption("-o, --output <OUT>", "output file")
    .option("--force", "replace an existing output")
    .option("--no-check", "do not compare the output with the input")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      [
        "",
        "Device sections are written from their decoded VMState fields, the vmdesc from its parsed value,",
        "RAM from the bitmap and page array (mapped-ram) or the page record runs (precopy).",
        "Exit 1 when the output differs from the input (it is still written).",
        "",
        "Example:",
        "  mrc reencode vm.mig --offset 0x1000 -o again.mig",
      ].join("\n"),
    )
    .action(async (file: string, f: ReencodeFlags) => {
      const forget = removeOnInterrupt(tempPathFor(f.output, "reencode"));
      const r = await reencodeFile(file, f.output, {
        ...(f.offset === undefined ? {} : { offset: f.offset }),
        force: f.force ?? false,
        check: f.check,
      }).finally(forget);
      process.stdout.write(f.json ? `${JSON.stringify(toJson(r))}\n` : formatText(r));
      if (r.identical === false) process.exitCode = EXIT_INVALID;
    });
}
