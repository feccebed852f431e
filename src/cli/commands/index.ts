// Every `mrc` subcommand registers itself here: one module per command, one line each.
import type { Command } from "commander";

export type Register = (program: Command) => void;

export const commands: Register[] = [];
