// `mrc inspect`: the structure of a migration file — sections, blocks, header fields, bitmap counts.
import type { Command } from "commander";
import { type InspectReport, inspectDevices, inspectFile } from "../../impl/inspect.js";
import { parseSize } from "../common.js";

interface InspectFlags {
  offset?: bigint;
  json?: boolean;
  device?: string;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

export function formatInspect(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`file ${r.file}: ${r.fileSize} bytes apparent, ${r.allocatedBytes} allocated`);
  const lv = r.libvirt;
  if (lv) {
    lines.push(
      `libvirt save image: magic ${lv.magic}${lv.complete ? "" : " (INCOMPLETE)"}, version ${lv.version}${lv.byteSwapped ? " (byte-swapped)" : ""}, format ${lv.format} (${lv.formatName}), data_len ${lv.dataLen}, was_running ${lv.wasRunning}, cookieOffset ${lv.cookieOffset}`,
    );
    const mem = lv.memory ? `${lv.memory.value} ${lv.memory.unit}` : "?";
    lines.push(
      `  domain ${lv.domainName ?? "?"}, memory ${mem}; cookie: ${(lv.cookie ?? "(none)").replace(/\s+/g, " ").trim()}`,
    );
  }
  lines.push(
    `stream at ${r.streamOffset}: QEVM v${r.version}, machine ${r.machine ?? "(no configuration section)"}, capabilities [${r.capabilities.join(", ")}]${r.mappedRam ? " (mapped-ram)" : ""}`,
  );
  lines.push("records:");
  for (const rec of r.records) {
    if (rec.kind === "eof") lines.push(`  ${pad(rec.offset, 12)} EOF`);
    else if (rec.kind === "command")
      lines.push(`  ${pad(rec.offset, 12)} COMMAND ${rec.command} (${rec.size} bytes)`);
    else {
      const id = `id ${rec.sectionId}`;
      const more =
        rec.kind === "start" || rec.kind === "full"
          ? ` instance ${rec.instanceId} version ${rec.versionId}`
          : "";
      lines.push(
        `  ${pad(rec.offset, 12)} ${pad(rec.kind.toUpperCase(), 6)} "${rec.idstr}" ${id}${more}, ${rec.size} bytes`,
      );
    }
  }
  if (r.vmdesc) lines.push(`  ${pad(r.vmdesc.offset, 12)} VMDESC ${r.vmdesc.length} bytes of JSON`);
  if (r.vmdescProblem)
    lines.push(
      `  ${pad(r.vmdescProblem.offset ?? "?", 12)} VMDESC broken (QEMU ignores it): ${r.vmdescProblem.message}`,
    );
  lines.push("ram blocks:");
  lines.push(
    `  ${pad("name", 24)} ${pad("used_length", 12)} ${pad("header", 12)} ${pad("bitmap", 12)} ${pad("pages", 12)} ${pad("present/zero", 14)} allocated/apparent`,
  );
  for (const b of r.ramBlocks) {
    const counts = b.ignored ? "ignored" : `${b.pagesPresent ?? "-"}/${b.pagesZero ?? "-"}`;
    const alloc = b.pagesAllocated === undefined ? "-" : `${b.pagesAllocated}/${b.usedLength}`;
    lines.push(
      `  ${pad(b.idstr, 24)} ${pad(b.usedLength, 12)} ${pad(b.headerOffset ?? "-", 12)} ${pad(b.bitmapOffset ?? "-", 12)} ${pad(b.pagesOffset ?? "-", 12)} ${pad(counts, 14)} ${alloc}`,
    );
  }
  lines.push(`end of stream ${r.end}`);
  for (const f of r.deviceCheck?.findings ?? []) lines.push(`vmdesc check: ${f.offset} ${f.message}`);
  return `${lines.join("\n")}\n`;
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("print the structure: sections, RAM blocks, header fields, bitmap counts")
    .argument("<FILE>", "migration file")
    .option(
      "--offset <N>",
      "file: offset where the stream starts (default: after a libvirt save-image header, else 0)",
      parseSize,
    )
    .option("--json", "one JSON document (offsets and 64-bit values as hex strings)")
    .option(
      "--device <NAME>",
      "print the decoded fields of device sections as JSON (NAME: idstr, the part after a PCI address, or vmsd name)",
    )
    .addHelpText("after", "\nExamples:\n  mrc inspect vm.mig --json\n  mrc inspect vm.mig --device hpet")
    .action(async (file: string, f: InspectFlags) => {
      if (f.device !== undefined) {
        const d = await inspectDevices(file, f.device, f.offset === undefined ? {} : { offset: f.offset });
        process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
        return;
      }
      const r = await inspectFile(file, f.offset === undefined ? {} : { offset: f.offset });
      process.stdout.write(f.json ? `${JSON.stringify(r, null, 2)}\n` : formatInspect(r));
    });
}
