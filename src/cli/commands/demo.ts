// `mrc demo`: save a built-in RAM image with the reference writer, read it back, check it, say what happened.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { hex } from "../../impl/bytes.js";
import { extractBlocks } from "../../impl/extract.js";
import { writeMigrationFile } from "../../impl/save.js";
import { FileSource } from "../../impl/source.js";

/**
 * The pattern QEMU's behaviour was recorded with (spec section 8): 2048 pages; pages ≡0 mod 4 zero,
 * ≡1 filled with 0x07, ≡2 only the last byte 0xaa, ≡3 first 8 bytes = page number (LE);
 * pages 1000–1099 zero; 1500–1599 all 0x55.
 */
export function demoImage(pages = 2048): Uint8Array {
  const img = new Uint8Array(pages * 4096);
  for (let i = 0; i < pages; i++) {
    const p = img.subarray(i * 4096, (i + 1) * 4096);
    if (i >= 1000 && i < 1100) continue;
    if (i >= 1500 && i < 1600) {
      p.fill(0x55);
      continue;
    }
    if (i % 4 === 1) p.fill(0x07);
    else if (i % 4 === 2) p[4095] = 0xaa;
    else if (i % 4 === 3) new DataView(p.buffer, p.byteOffset, 8).setBigUint64(0, BigInt(i), true);
  }
  return img;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("save a built-in 8 MiB RAM image, read it back and check it")
    .option("--keep", "keep the temp directory")
    .action(async (f: { keep?: boolean }) => {
      const dir = await mkdtemp(join(tmpdir(), "mrc-demo-"));
      const say = (s: string) => process.stdout.write(`${s}\n`);
      try {
        const image = join(dir, "ram.img");
        const img = demoImage();
        await writeFile(image, img);
        say(`RAM image ${image}: 8 MiB, 2048 pages, spec section 8 pattern`);
        const mig = join(dir, "demo.mig");
        const r = await writeMigrationFile({
          path: mig,
          blocks: [{ idstr: "r", image }],
          multifdChannels: 2,
        });
        say(
          `saved ${mig} with the reference writer (-M none, mapped-ram, multifd 2 channels): ${r.fileSize} bytes`,
        );
        for (const b of r.blocks) {
          say(
            `  block "${b.idstr}": MappedRamHeader at ${hex(b.headerOffset)}, bitmap at ${hex(b.bitmapOffset)} (${b.bitmapSize} bytes), pages at ${hex(b.pagesOffset)}, ${b.pagesWritten} of ${b.numPages} pages written, stream resumes at ${hex(b.end)}`,
          );
        }
        const out = join(dir, "out");
        const src = await FileSource.open(mig);
        try {
          const x = await extractBlocks(src, out);
          say(
            `read it back: ${x.stream.records.length} records, ${x.stream.ramBlocks.length} RAM block(s), vmdesc ${x.stream.vmdesc?.length ?? 0} bytes`,
          );
          for (const b of x.blocks) {
            const back = await readFile(b.file);
            const same = Buffer.compare(back, img) === 0;
            say(`  ${b.file}: ${same ? "identical to the image" : "DIFFERS from the image"}`);
            if (!same) process.exitCode = 1;
          }
        } finally {
          await src.close();
        }
        if (process.exitCode !== 1) say("demo OK");
      } finally {
        if (f.keep) say(`kept ${dir}`);
        else await rm(dir, { recursive: true, force: true });
      }
    });
}
