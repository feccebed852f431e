// Shared CLI plumbing: exit codes, one-line errors, option parsers.
import { rename, rm, writeFile } from "node:fs/promises";
import { InvalidArgumentError } from "commander";
import { hex } from "../impl/bytes.js";
import { qemuStrtosz, STRERROR } from "../impl/caps/strtosz.js";
import { isMappedRamError } from "../impl/errors.js";
import { tempPathFor } from "../impl/temp-path.js";

/** 0 success, 1 the input is not valid, 2 usage or I/O error. */
export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

/** A usage problem found after parsing (e.g. conflicting options): exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Parses a size/offset exactly as QEMU's `qemu_strtosz` does for `file:...,offset=N` (decimal, `0x` hex,
 * fractions with a unit suffix such as `1.5k`, suffixes b/k/M/G/T/P/E; `0x20M` and `-1` are refused).
 * Offsets of 2^63 and more are refused too: no file can have them.
 */
export function parseSize(text: string): bigint {
  const r = qemuStrtosz(text);
  if (!r.ok) throw new InvalidArgumentError(`"${text}" is not a size QEMU accepts (${STRERROR[r.errno]})`);
  if (r.value >= 1n << 63n) throw new InvalidArgumentError(`"${text}" is out of range (${STRERROR.ERANGE})`);
  return r.value;
}

export function parsePositiveInt(min: number, max: number) {
  return (text: string): number => {
    if (!/^[0-9]+$/.test(text)) throw new InvalidArgumentError(`"${text}" is not a whole number`);
    const v = Number(text);
    if (v < min || v > max) throw new InvalidArgumentError(`${v} is not between ${min} and ${max}`);
    return v;
  };
}

/** `NAME=VALUE`, collected into an array (for repeatable options). */
export function collectPair(text: string, previous: Array<[string, string]> = []): Array<[string, string]> {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`"${text}" must be NAME=VALUE`);
  return [...previous, [text.slice(0, eq), text.slice(eq + 1)]];
}

/** One line on stderr: code, offset where known, message. */
export function formatError(e: unknown): string {
  if (isMappedRamError(e)) {
    const at = e.offset === undefined ? "" : ` @${hex(e.offset)}`;
    return `mrc: ${e.code}${at}: ${e.message}`;
  }
  if (e instanceof UsageError) return `mrc: usage: ${e.message}`;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === "string" && typeof err.message === "string") {
    // Node's messages often start with the code already ("ENOENT: no such file or directory, ...")
    return err.message.startsWith(`${err.code}:`)
      ? `mrc: ${err.message}`
      : `mrc: ${err.code}: ${err.message}`;
  }
  return `mrc: ${e instanceof Error ? e.message : String(e)}`;
}

/** Exit code for an error thrown by a command. */
export function exitCodeFor(e: unknown): number {
  if (isMappedRamError(e))
    return e.code === "ERR_IO" || e.code === "ERR_BAD_ARGUMENT" ? EXIT_USAGE : EXIT_INVALID;
  return EXIT_USAGE;
}

/** Environment lookups the CLI makes, injectable for tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The part of a stream the CLI looks at to decide on colour and progress output. */
export interface OutputStream {
  isTTY?: boolean;
  hasColors?: () => boolean;
  columns?: number;
  write(chunk: string): unknown;
}

/**
 * Colour on `stream`? Same rule as commander's help: `NO_COLOR` (non-empty) or `FORCE_COLOR=0|false`
 * turn it off, `FORCE_COLOR`/`CLICOLOR_FORCE` turn it on, otherwise only on a colour TTY.
 */
export function colorEnabled(stream: OutputStream, env: Env = process.env): boolean {
  if (env.NO_COLOR || env.FORCE_COLOR === "0" || env.FORCE_COLOR === "false") return false;
  if (env.FORCE_COLOR || env.CLICOLOR_FORCE !== undefined) return true;
  return stream.isTTY === true && (stream.hasColors?.() ?? false);
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;

/** ANSI styles for `stream`, or identity functions when colour is off (see `colorEnabled`). */
export function styleFor(stream: OutputStream, env: Env = process.env): Style {
  if (!colorEnabled(stream, env)) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain };
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39) };
}

/** Writes `text` to `path` through a temp name in the same directory, renamed only on success. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = tempPathFor(path, "write");
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
