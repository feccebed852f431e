// `mrc layout`: a picture of the file map (stream, each block's header, bitmap and page array, the
// tail with device sections and vmdesc), with the real offsets labelled, as SVG and/or HTML.
import type { Command } from "commander";
import { renderHtml } from "../../layout/html.js";
import { fileMapOf } from "../../layout/map.js";
import { renderSvg } from "../../layout/svg.js";
import { parseSize, UsageError, writeFileAtomic } from "../common.js";

interface LayoutFlags {
  offset?: bigint;
  svg?: string;
  html?: string;
  json?: boolean;
}

export function registerLayout(program: Command): void {
  program
    .command("layout")
    .description("draw the file map (regions to scale with scale breaks, offsets labelled) as SVG or HTML")
    .argument("<FILE>", "migration file")
    .option(
      "--offset <N>",
      "file: offset where the stream starts (default: after a libvirt save-image header, else 0)",
      parseSize,
    )
    .option("--svg <OUT>", "write the picture as a standalone SVG file")
    .option("--html <OUT>", "write an HTML page: the picture and a table of every region")
    .option("--json", "print what was written as JSON")
    .addHelpText(
      "after",
      "\nAt least one of --svg and --html is needed.\n\nExample:\n  mrc layout vm.mig --svg vm.svg --html vm.html",
    )
    .action(async (file: string, f: LayoutFlags) => {
      if (f.svg === undefined && f.html === undefined) {
        throw new UsageError("layout needs --svg OUT or --html OUT");
      }
      const map = await fileMapOf(file, f.offset);
      const written: string[] = [];
      if (f.svg !== undefined) {
        await writeFileAtomic(f.svg, renderSvg(map));
        written.push(f.svg);
      }
      if (f.html !== undefined) {
        await writeFileAtomic(f.html, renderHtml(map));
        written.push(f.html);
      }
      if (f.json) {
        process.stdout.write(`${JSON.stringify({ file, regions: map.regions.length, written })}\n`);
      } else {
        for (const w of written)
          process.stdout.write(`wrote ${w}: ${map.regions.length} regions of ${file}\n`);
      }
    });
}
