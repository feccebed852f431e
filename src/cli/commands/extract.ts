// `mrc extract`: rebuild every RAM block of a migration file, one file per block.
import type { Command } from "commander";
import { hex } from "../../impl/bytes.js";
import { extractBlocks } from "../../impl/extract.js";
import { FileSource } from "../../impl/source.js";
import { removeMatchingOnInterrupt } from "../cleanup.js";
import { parseSize } from "../common.js";
import { progressFor } from "../progress.js";

interface ExtractFlags {
  offset?: bigint;
  output: string;
  force?: boolean;
  json?: boolean;
}

export function registerExtract(program: Command): void {
  program
    .command("extract")
    .description("write each RAM block to DIR/<idstr>.bin (characters outside [A-Za-z0-9._-] become _)")
    .argument("<FILE>", "migration file")
    .option(
      "--offset <N>",
      "file: offset where the stream starts (default: after a libvirt save-image header, else 0)",
      parseSize,
    )
    .requiredOption("-o, --output <DIR>", "output directory")
    .option("--force", "replace existing block files")
    .option("--json", "print what was written as JSON")
    .addHelpText("after", "\nExample:\n  mrc extract vm.mig --offset 0x1000 -o ram/")
    .action(async (file: string, f: ExtractFlags, cmd: Command) => {
      const src = await FileSource.open(file);
      const progress = progressFor(cmd, "extract");
      // extractBlocks writes DIR/.mrc-extract-<pid>-<n>.partial, one per block
      const forget = removeMatchingOnInterrupt(f.output, (name) =>
        name.startsWith(`.mrc-extract-${process.pid}-`),
      );
      try {
        const r = await extractBlocks(src, f.output, {
          ...(f.offset === undefined ? {} : { offset: f.offset }),
          force: f.force ?? false,
          onProgress: progress.update,
        });
        progress.finish();
        if (f.json) {
          process.stdout.write(
            `${JSON.stringify({
              blocks: r.blocks.map((b) => ({
                idstr: b.idstr,
                file: b.file,
                usedLength: hex(b.usedLength),
                pagesPresent: b.pagesPresent,
              })),
              ignored: r.ignored,
            })}\n`,
          );
        } else {
          for (const b of r.blocks) {
            process.stdout.write(
              `${b.file}: block "${b.idstr}" ${hex(b.usedLength)} bytes, ${b.pagesPresent} pages present\n`,
            );
          }
          for (const idstr of r.ignored) {
            process.stdout.write(
              `block "${idstr}" not written: ignored under x-ignore-shared, its RAM is not in the file\n`,
            );
          }
        }
      } finally {
        forget();
        progress.finish();
        await src.close();
      }
    });
}
