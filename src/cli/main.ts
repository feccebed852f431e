#!/usr/bin/env node
// `mrc`: the mapped-ram conformance command line.
import type { EventEmitter } from "node:events";
import { Command, CommanderError } from "commander";
import { installSignalCleanup } from "./cleanup.js";
import { loadCommands, type Register } from "./commands/index.js";
import { EXIT_USAGE, exitCodeFor, formatError } from "./common.js";

const ROOT_HELP = `
Global options work before or after the command name: -q/--quiet turns progress bars off
(they are only drawn when stdout and stderr are terminals, and never with --json).
Exit codes: 0 ok, 1 invalid input (diff: the files differ), 2 usage or I/O error.
Colour only on a terminal; NO_COLOR turns it off.

Examples:
  mrc inspect vm.mig --json
  mrc diff before.mig after.mig
  mrc layout vm.mig --svg vm.svg
  mrc save --block r=ram.img -o vm.mig
  mrc <command> --help`;

/** Commander's parse errors as one line: `mrc: usage: unknown option '--x' (Did you mean --json?)`. */
export function usageLine(commanderMessage: string): string {
  const text = commanderMessage
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ")
    .replace(/^error: /, "");
  return `mrc: usage: ${text}`;
}

/** Examples for commands that do not add their own (every command's help shows one). */
const FALLBACK_EXAMPLES: Readonly<Record<string, string>> = {
  demo: "mrc demo --keep",
};

/**
 * Help polish applied to every registered command: bigint defaults (offsets) shown as hex — commander
 * would JSON.stringify them and fail — and an example for commands that do not add one.
 */
function polish(cmd: Command): void {
  for (const o of cmd.options) {
    if (typeof o.defaultValue === "bigint" && o.defaultValueDescription === undefined) {
      o.defaultValueDescription = `0x${o.defaultValue.toString(16)}`;
    }
  }
  const example = FALLBACK_EXAMPLES[cmd.name()];
  // addHelpText registers an "afterHelp" listener (a Command is an EventEmitter at run time)
  if (example !== undefined && (cmd as unknown as EventEmitter).listenerCount("afterHelp") === 0) {
    cmd.addHelpText("after", `\nExample:\n  ${example}`);
  }
}

/** The program with the given commands registered (loadCommands: all, or the one a run names). */
export function buildProgram(registers: readonly Register[]): Command {
  const program = new Command("mrc")
    .description("Conformance harness for QEMU's mapped-ram migration file format (with and without multifd)")
    .version("0.1.0")
    .option("-q, --quiet", "no progress bars (for scripts; --json output never has them)")
    .configureHelp({ styleTitle: (s) => `\x1b[1m${s}\x1b[22m`, showGlobalOptions: true })
    .configureOutput({
      outputError: (str, write) => write(`${usageLine(str)}\n`),
    })
    .addHelpText("after", ROOT_HELP)
    .exitOverride();
  for (const register of registers) register(program);
  for (const sub of program.commands) {
    sub.exitOverride().showHelpAfterError(false);
    polish(sub);
  }
  return program;
}

/** Runs `mrc` with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram(await loadCommands(argv));
  // Commands report their result through process.exitCode; start clean, and leave it clean.
  process.exitCode = undefined;
  try {
    if (argv.length === 0) {
      process.stderr.write("mrc: usage: missing command (see 'mrc --help')\n");
      return EXIT_USAGE;
    }
    await program.parseAsync(argv as string[], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every parse error is a usage error (2).
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    process.stderr.write(`${formatError(e)}\n`);
    return exitCodeFor(e);
  } finally {
    process.exitCode = undefined;
  }
}

// Run when executed as a script (not when imported by tests): dist/cli/main.js, the bundled bin
// dist/bin/mrc.js (scripts/bundle.mjs), or the `mrc` link npm makes to it.
const invoked = (process.argv[1] ?? "").replaceAll("\\", "/");
if (invoked.endsWith("/main.js") || invoked.endsWith("/mrc.js") || invoked.endsWith("/mrc")) {
  // `mrc inspect x | head`: when the reader of our output goes away, stop quietly, as other CLIs do.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  // SIGINT/SIGTERM: remove the temp outputs of the running command, stop its QEMUs, exit 130/143
  installSignalCleanup();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${formatError(e)}\n`);
      process.exitCode = EXIT_USAGE;
    },
  );
}
