// Every `mrc` subcommand registers itself here: one module per command, one line each. Modules load
// on demand: a run loads only its own command's module (and what it imports); help loads them all.
import type { Command } from "commander";

export type Register = (program: Command) => void;

export interface CommandEntry {
  name: string;
  load: () => Promise<Register>;
}

export const commands: readonly CommandEntry[] = [
  { name: "save", load: async () => (await import("./save.js")).registerSave },
  { name: "extract", load: async () => (await import("./extract.js")).registerExtract },
  { name: "inspect", load: async () => (await import("./inspect.js")).registerInspect },
  { name: "diff", load: async () => (await import("./diff.js")).registerDiff },
  { name: "layout", load: async () => (await import("./layout.js")).registerLayout },
  { name: "demo", load: async () => (await import("./demo.js")).registerDemo },
  { name: "verify", load: async () => (await import("./verify.js")).registerVerify },
  { name: "reencode", load: async () => (await import("./reencode.js")).registerReencode },
  { name: "caps", load: async () => (await import("./caps.js")).registerCaps },
  { name: "send", load: async () => (await import("./send.js")).registerSend },
  { name: "receive", load: async () => (await import("./receive.js")).registerReceive },
  { name: "conformance", load: async () => (await import("./conformance.js")).registerConformance },
];

/**
 * The commands a run of `mrc argv` needs: only the named one when the first word that is not a global
 * option names a command; none for a bare --version (it prints before any command is looked at); else
 * all (help, a misspelt command and its suggestions).
 */
export async function loadCommands(argv: readonly string[]): Promise<Register[]> {
  const word = argv.find((a) => !a.startsWith("-"));
  const only = commands.find((c) => c.name === word);
  if (only) return [await only.load()];
  const asks = (...flags: string[]) => argv.some((a) => flags.includes(a));
  if (word === undefined && asks("-V", "--version") && !asks("-h", "--help")) return [];
  return Promise.all(commands.map((c) => c.load()));
}
