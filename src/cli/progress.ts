// A progress bar for long work (save, extract, diff, verify, conformance): bytes done / total and the
// rate, redrawn in place on stderr. Shown only when stdout and stderr are both terminals, never with
// `--quiet` or `--json`, so logs and JSON documents never carry it. Colour follows NO_COLOR.
import type { Command } from "commander";
import { type Env, type OutputStream, styleFor } from "./common.js";

/** What long-running library calls accept as `onProgress`. */
export type ProgressCallback = (done: bigint, total: bigint) => void;

export interface Progress {
  /** false when nothing is drawn (not a TTY, --quiet, --json, TERM=dumb) */
  readonly enabled: boolean;
  /** Bound: pass it straight as an `onProgress` callback. Cheap when disabled or throttled. */
  readonly update: ProgressCallback;
  /** Erases the bar; call it in `finally` before printing results. */
  finish(): void;
}

export interface ProgressOptions {
  quiet?: boolean;
  json?: boolean;
  stdout?: OutputStream;
  stderr?: OutputStream;
  env?: Env;
  /** monotonic clock in nanoseconds (default `process.hrtime.bigint`) */
  clock?: () => bigint;
  /** least time between two redraws (default 100 ms); the last update always draws */
  intervalMs?: number;
  /** what is counted: bytes (default) or results (conformance) */
  unit?: "bytes" | "results";
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] as const;

/** `512 B`, `3.4 MiB`, `1.0 GiB`: binary units, one decimal above bytes. */
export function formatBytes(n: bigint): string {
  if (n < 1024n) return `${n} B`;
  let unit = 0;
  let scaled = n;
  while (scaled >= 1024n * 1024n && unit < UNITS.length - 2) {
    scaled /= 1024n;
    unit++;
  }
  // scaled is below 1 MiB of the current unit: one more step with one decimal
  const tenths = (scaled * 10n + 512n) / 1024n;
  return `${tenths / 10n}.${tenths % 10n} ${UNITS[unit + 1]}`;
}

/** One progress line, without control characters. Pure: tested on its own. */
export function formatProgressLine(
  label: string,
  done: bigint,
  total: bigint,
  elapsedNs: bigint,
  columns: number,
  colour: (s: string) => string = (s) => s,
  unit: "bytes" | "results" = "bytes",
): string {
  const clamped = total > 0n && done > total ? total : done;
  const permille = total > 0n ? Number((clamped * 1000n) / total) : 0;
  const pct = `${String(Math.floor(permille / 10)).padStart(3)}%`;
  const rate = elapsedNs > 0n ? (clamped * 1_000_000_000n) / elapsedNs : 0n;
  const tail =
    unit === "results"
      ? `${pct}  ${clamped} / ${total} results  ${rate}/s`
      : `${pct}  ${formatBytes(clamped)} / ${formatBytes(total)}  ${formatBytes(rate)}/s`;
  const room = columns - label.length - tail.length - 6;
  const width = Math.max(0, Math.min(40, room));
  if (width < 10) return `${label}  ${tail}`;
  const filled = Math.floor((permille * width) / 1000);
  const bar = (filled > 0 ? colour("█".repeat(filled)) : "") + "░".repeat(width - filled);
  return `${label}  ${bar}  ${tail}`;
}

/** Should a bar be drawn? Both streams terminals, not --quiet, not --json, TERM not dumb. */
export function progressWanted(opts: ProgressOptions = {}): boolean {
  if (opts.quiet || opts.json) return false;
  const env = opts.env ?? process.env;
  if (env.TERM === "dumb") return false;
  const out = opts.stdout ?? process.stdout;
  const err = opts.stderr ?? process.stderr;
  return out.isTTY === true && err.isTTY === true;
}

const DISABLED: Progress = { enabled: false, update: () => undefined, finish: () => undefined };

/** A progress bar labelled `label` (e.g. "save"), or a no-op when `progressWanted` says no. */
export function createProgress(label: string, opts: ProgressOptions = {}): Progress {
  if (!progressWanted(opts)) return DISABLED;
  const err = opts.stderr ?? process.stderr;
  const clock = opts.clock ?? (() => process.hrtime.bigint());
  const interval = BigInt(opts.intervalMs ?? 100) * 1_000_000n;
  const style = styleFor(err, opts.env ?? process.env);
  const start = clock();
  let lastDraw: bigint | undefined;
  let drawn = false;
  return {
    enabled: true,
    update: (done, total) => {
      const now = clock();
      const last = total > 0n && done >= total;
      if (!last && lastDraw !== undefined && now - lastDraw < interval) return;
      lastDraw = now;
      drawn = true;
      err.write(
        `\r${formatProgressLine(label, done, total, now - start, err.columns || 80, style.green, opts.unit)}\x1b[K`,
      );
    },
    finish: () => {
      if (drawn) err.write("\r\x1b[K");
      drawn = false;
    },
  };
}

/**
 * The bar for a command's action: reads the global `--quiet` and the command's `--json` from
 * `cmd.optsWithGlobals()`. Other commands call this and pass `progress.update` as `onProgress`.
 */
export function progressFor(
  cmd: Command,
  label: string,
  opts: Omit<ProgressOptions, "quiet"> = {},
): Progress {
  const o = cmd.optsWithGlobals() as { quiet?: unknown; json?: unknown };
  return createProgress(label, { ...opts, quiet: o.quiet === true, json: opts.json ?? o.json === true });
}
