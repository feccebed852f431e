// `mrc send`: act as a QEMU 10.0.2 source of a stopped VM migrating with multifd over a socket.
import { type Command, InvalidArgumentError, Option } from "commander";
import { sendMigration } from "../../impl/multifd/sender.js";
import { ZERO_PAGE_DETECTION_MODES, type ZeroPageDetection } from "../../impl/zero-page.js";
import { collectPair, parsePositiveInt } from "../common.js";

interface SendFlags {
  block: Array<[string, string]>;
  machine: string;
  multifdChannels: number;
  to: string;
  zeroPageDetection: ZeroPageDetection;
  uuid?: Uint8Array;
  timeout: number;
  json?: boolean;
}

/** `6a7c4ad3-6ef4-4b14-9e3c-1f2a3b4c5d6e` → 16 bytes (QEMU's -uuid syntax). */
export function parseUuid(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) {
    throw new InvalidArgumentError(`"${text}" is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  }
  const hex = text.replaceAll("-", "");
  return Uint8Array.from({ length: 16 }, (_, i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

export function registerSend(program: Command): void {
  program
    .command("send")
    .description("migrate RAM images to a QEMU 10.0.2 destination with multifd over a socket (packets mode)")
    .requiredOption("--block <NAME=IMAGE>", "RAM block name and its image file (repeatable)", collectPair, [])
    .option("--machine <name>", "machine profile", "none")
    .requiredOption("--multifd-channels <N>", "number of multifd channels (1-255)", parsePositiveInt(1, 255))
    .requiredOption("--to <ADDR>", "destination: tcp:HOST:PORT or unix:PATH")
    .addOption(
      new Option("--zero-page-detection <mode>", "where zero pages are detected")
        .choices(ZERO_PAGE_DETECTION_MODES)
        .default("multifd"),
    )
    .option("--uuid <UUID>", "uuid sent in every MultiFDInit_t (the destination's -uuid)", parseUuid)
    .option(
      "--timeout <MS>",
      "give up after this many milliseconds",
      parsePositiveInt(1, 86_400_000),
      600_000,
    )
    .option("--json", "print what was sent as JSON")
    .addHelpText(
      "after",
      "\nExample (destination: qemu-system-x86_64 -M none,memory-backend=r ... -incoming defer,\n" +
        "then migrate-set-capabilities multifd=on, multifd-channels=4, migrate-incoming tcp:127.0.0.1:4444):\n" +
        "  mrc send --block r=ram.img --multifd-channels 4 --to tcp:127.0.0.1:4444",
    )
    .action(async (f: SendFlags) => {
      const r = await sendMigration({
        to: f.to,
        blocks: f.block.map(([idstr, image]) => ({ idstr, image })),
        machine: f.machine,
        multifdChannels: f.multifdChannels,
        zeroPageDetection: f.zeroPageDetection,
        timeoutMs: f.timeout,
        ...(f.uuid !== undefined ? { uuid: f.uuid } : {}),
      });
      if (f.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      process.stdout.write(
        `sent to ${r.address}: main channel ${r.main.bytes} bytes (${r.main.flushes} MULTIFD_FLUSH, ${r.main.zeroRecords} zero-page records), ${r.packets} multifd packets\n`,
      );
      for (const c of r.channels) {
        process.stdout.write(
          `  channel ${c.id}: ${c.packets} packets (${c.syncPackets} SYNC), ${c.normalPages} normal + ${c.zeroPages} zero pages, ${c.bytes} bytes\n`,
        );
      }
    });
}
