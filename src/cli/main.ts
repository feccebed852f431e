#!/usr/bin/env node
// `mrc`: the mapped-ram conformance command line.
import { Command, CommanderError } from "commander";
import { commands } from "./commands/index.js";
import { EXIT_USAGE, exitCodeFor, formatError } from "./common.js";

export function buildProgram(): Command {
  const program = new Command("mrc")
    .description("Conformance harness for QEMU's mapped-ram migration file format (with and without multifd)")
    .version("0.1.0")
    .configureOutput({
      outputError: (str, write) => write(`${str.split("\n")[0]}\n`),
    })
    .exitOverride();
  for (const register of commands) register(program);
  for (const sub of program.commands) sub.exitOverride().showHelpAfterError(false);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every parse error is a usage error (2).
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    process.stderr.write(`${formatError(e)}\n`);
    return exitCodeFor(e);
  }
}

// Run when executed as a script (not when imported by tests).
const invoked = process.argv[1] ?? "";
if (invoked.endsWith("/main.js") || invoked.endsWith("/mrc") || invoked.endsWith("\\main.js")) {
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
