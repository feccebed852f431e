// `mrc save`: the bytes QEMU 10.0.2 writes for `migrate file:OUT[,offset=N]` of a stopped VM.
import { open, rename, rm, stat } from "node:fs/promises";
import { type Command, Option } from "commander";
import { hex } from "../../impl/bytes.js";
import { MappedRamError } from "../../impl/errors.js";
import { writeMigrationFile } from "../../impl/save.js";
import { tempPathFor } from "../../impl/temp-path.js";
import { ZERO_PAGE_DETECTION_MODES, type ZeroPageDetection } from "../../impl/zero-page.js";
import { removeOnInterrupt } from "../cleanup.js";
import { collectPair, parsePositiveInt, parseSize } from "../common.js";
import { type Progress, progressFor } from "../progress.js";

interface SaveFlags {
  block: Array<[string, string]>;
  round: Array<[string, string]>;
  machine: string;
  multifdChannels?: number;
  offset: bigint;
  partSections?: number;
  zeroPageDetection: ZeroPageDetection;
  output: string;
  force?: boolean;
  json?: boolean;
}

/** Copies the first `n` bytes of `from` into a new file `to` (QEMU keeps the bytes before the offset). */
async function copyPrefix(from: string, to: string, n: bigint): Promise<void> {
  const src = await open(from, "r");
  const dst = await open(to, "wx", 0o600);
  try {
    const buf = new Uint8Array(1 << 20);
    let done = 0n;
    while (done < n) {
      const want = Number(n - done < BigInt(buf.length) ? n - done : BigInt(buf.length));
      const { bytesRead } = await src.read(buf, 0, want, Number(done));
      if (bytesRead === 0) break;
      await dst.write(buf, 0, bytesRead, Number(done));
      done += BigInt(bytesRead);
    }
  } finally {
    await src.close();
    await dst.close();
  }
}

export async function runSave(f: SaveFlags, progress?: Progress): Promise<number> {
  const target = f.output;
  const existing = await stat(target).then(
    (s) => s,
    () => undefined,
  );
  if (existing && !f.force) {
    throw new MappedRamError("ERR_IO", {
      subject: `output "${target}"`,
      rule: "already exists (use --force to replace it)",
      verb: "write",
    });
  }
  const tmp = tempPathFor(target, "save");
  const forget = removeOnInterrupt(tmp);
  try {
    if (existing && f.offset > 0n) await copyPrefix(target, tmp, f.offset);
    const result = await writeMigrationFile({
      path: tmp,
      finalPath: target,
      offset: f.offset,
      blocks: f.block.map(([idstr, image]) => ({ idstr, image })),
      machine: f.machine,
      // one PART record per round of the save: the bulk pass, then each --round
      partSections: f.partSections ?? 1 + f.round.length,
      snapshotRounds: f.round.map(([idstr, image]) => ({ idstr, image })),
      zeroPageDetection: f.zeroPageDetection,
      ...(f.multifdChannels !== undefined ? { multifdChannels: f.multifdChannels } : {}),
      ...(progress ? { onProgress: progress.update } : {}),
    });
    progress?.finish();
    await rename(tmp, target);
    if (f.json) {
      process.stdout.write(
        `${JSON.stringify({
          file: target,
          fileSize: hex(result.fileSize),
          blocks: result.blocks.map((b) => ({
            idstr: b.idstr,
            usedLength: hex(b.usedLength),
            headerOffset: hex(b.headerOffset),
            bitmapOffset: hex(b.bitmapOffset),
            pagesOffset: hex(b.pagesOffset),
            pagesWritten: b.pagesWritten,
            pagesInHoles: b.pagesInHoles,
          })),
        })}\n`,
      );
    } else {
      process.stdout.write(`wrote ${target}: ${result.fileSize} bytes\n`);
      for (const b of result.blocks) {
        process.stdout.write(
          `  block "${b.idstr}" used_length ${hex(b.usedLength)} header ${hex(b.headerOffset)} bitmap ${hex(b.bitmapOffset)} pages ${hex(b.pagesOffset)} written ${b.pagesWritten}/${b.numPages}${b.pagesInHoles > 0 ? ` (${b.pagesInHoles} in holes of the image, not read)` : ""}\n`,
        );
      }
    }
    return 0;
  } catch (e) {
    progress?.finish();
    await rm(tmp, { force: true });
    throw e;
  } finally {
    forget();
  }
}

export function registerSave(program: Command): void {
  program
    .command("save")
    .description("write a mapped-ram migration file byte-identical to QEMU 10.0.2's for a stopped VM")
    .requiredOption("--block <NAME=IMAGE>", "RAM block name and its image file (repeatable)", collectPair, [])
    .option("--machine <name>", "machine profile", "none")
    .option("--multifd-channels <N>", "multifd on with N channels (1-255)", parsePositiveInt(1, 255))
    .option(
      "--offset <N>",
      "file: offset where the stream starts (decimal, 0x hex, k/M/G suffix)",
      parseSize,
      0n,
    )
    .option(
      "--round <NAME=IMAGE>",
      "a later round of a live save: block NAME now holds IMAGE; changed pages are re-sent (repeatable, in order)",
      collectPair,
      [],
    )
    .option(
      "--part-sections <K>",
      "empty SECTION_PART records before END (default: 1 + the number of rounds)",
      parsePositiveInt(0, 1_000_000),
    )
    .addOption(
      new Option("--zero-page-detection <mode>", "where zero pages are detected")
        .choices(ZERO_PAGE_DETECTION_MODES)
        .default("multifd"),
    )
    .requiredOption("-o, --output <OUT>", "output file")
    .option("--force", "replace an existing output (with --offset N its first N bytes are kept)")
    .option("--json", "print the layout as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  mrc save --block r=ram.img --multifd-channels 4 --offset 0x1000 -o vm.mig\n  mrc save --block r=ram0.img --round r=ram1.img --round r=ram2.img -o live.mig",
    )
    .action(async (flags: SaveFlags, cmd: Command) => {
      process.exitCode = await runSave(flags, progressFor(cmd, "save"));
    });
}
