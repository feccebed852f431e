// `mrc receive`: act as a QEMU 10.0.2 destination of a multifd migration over a socket (packets mode) and
// write the RAM it receives: one file per block (like `mrc extract`), or the equivalent mapped-ram file.
import { dirname } from "node:path";
import type { Command } from "commander";
import { hex } from "../../impl/bytes.js";
import { receiveOutput } from "../../impl/multifd/received-ram.js";
import { receiveMigration } from "../../impl/multifd/receiver.js";
import { isTempNameOf } from "../../impl/temp-path.js";
import { removeMatchingOnInterrupt } from "../cleanup.js";
import { parsePositiveInt } from "../common.js";
import { parseUuid } from "./send.js";

interface ReceiveFlags {
  listen: string;
  multifdChannels: number;
  output: string;
  force?: boolean;
  uuid?: Uint8Array;
  timeout: number;
  idleTimeout: number;
  json?: boolean;
}

export function registerReceive(program: Command): void {
  program
    .command("receive")
    .description("receive a multifd migration over a socket (packets mode) and write its RAM blocks")
    .requiredOption("--listen <ADDR>", "tcp:HOST:PORT (port 0: any free port) or unix:PATH")
    .requiredOption(
      "--multifd-channels <N>",
      "number of multifd channels of the source (1-255)",
      parsePositiveInt(1, 255),
    )
    .requiredOption(
      "-o, --output <DIR|FILE.mig>",
      "directory for <idstr>.bin block files, or a .mig mapped-ram file",
    )
    .option("--force", "replace existing outputs")
    .option("--uuid <UUID>", "uuid every MultiFDInit_t must carry (the source's -uuid)", parseUuid)
    .option(
      "--timeout <MS>",
      "give up after this many milliseconds",
      parsePositiveInt(1, 86_400_000),
      600_000,
    )
    .option(
      "--idle-timeout <MS>",
      "give up when nothing arrives for this long",
      parsePositiveInt(1, 86_400_000),
      30_000,
    )
    .option("--json", "print the listening address and the result as JSON lines")
    .addHelpText(
      "after",
      "\nThe first line of output is the address really listened on (with the port chosen for port 0).\n" +
        "Example (then in QEMU: migrate-set-capabilities multifd=on, multifd-channels=4, migrate tcp:127.0.0.1:PORT):\n" +
        "  mrc receive --listen tcp:127.0.0.1:0 --multifd-channels 4 -o ram/",
    )
    .action(async (f: ReceiveFlags) => {
      // the block files (or the mapped-ram file and its scratch images) are temp names until the end
      const out = receiveOutput(f.output);
      const forget = removeMatchingOnInterrupt(out.kind === "blocks" ? out.dir : dirname(out.file), (name) =>
        isTempNameOf(name),
      );
      const r = await receiveMigration({
        listen: f.listen,
        multifdChannels: f.multifdChannels,
        output: f.output,
        force: f.force ?? false,
        timeoutMs: f.timeout,
        idleTimeoutMs: f.idleTimeout,
        ...(f.uuid !== undefined ? { uuid: f.uuid } : {}),
        onListening: (address) => {
          process.stdout.write(
            f.json ? `${JSON.stringify({ listening: address })}\n` : `listening on ${address}\n`,
          );
        },
      }).finally(forget);
      if (f.json) {
        process.stdout.write(`${JSON.stringify(r, (_, v) => (typeof v === "bigint" ? hex(v) : v))}\n`);
        return;
      }
      process.stdout.write(
        `received ${r.packets} multifd packets on ${r.channels.length} channels, main channel ${r.main.bytes} bytes (${r.main.flushes} MULTIFD_FLUSH, ${r.main.zeroRecords} zero-page records)\n`,
      );
      if (r.format === "mapped-ram") process.stdout.write(`wrote ${r.output} (mapped-ram)\n`);
      for (const b of r.blocks) {
        const where = b.file === undefined ? "" : `${b.file}: `;
        process.stdout.write(
          `  ${where}block "${b.idstr}" ${hex(b.usedLength)} bytes, ${b.pagesReceived} pages received\n`,
        );
      }
    });
}
