// What an interrupted `mrc` leaves behind: nothing. Commands register their temp outputs here while they
// write them; on SIGINT or SIGTERM every registered cleanup runs, every QEMU this process started is killed
// (process group) with its private temp dir removed, the temp dirs made with tmp-promise are removed at
// exit, and mrc exits 130 or 143 (128 + the signal number, as a shell reports a process killed by it).
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { liveQemus } from "../qemu/registry.js";

/** A synchronous cleanup: it runs inside a signal handler, right before the process exits. */
export type Cleanup = () => void;

export const SIGNAL_EXIT_CODES: Readonly<Record<"SIGINT" | "SIGTERM", number>> = {
  SIGINT: 130,
  SIGTERM: 143,
};

const cleanups = new Set<Cleanup>();

/** Runs `fn` if the process is interrupted before the returned function is called. */
export function onInterrupt(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

/** Removes `path` (a file or a directory tree) if the process is interrupted meanwhile. */
export function removeOnInterrupt(path: string): () => void {
  return onInterrupt(() => rmSync(path, { recursive: true, force: true }));
}

/**
 * Removes the entries of `dir` whose names `match` if the process is interrupted meanwhile (for temp names
 * a library picks itself, e.g. one per RAM block).
 */
export function removeMatchingOnInterrupt(dir: string, match: (name: string) => boolean): () => void {
  return onInterrupt(() => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // not created yet
    }
    for (const name of names) if (match(name)) rmSync(join(dir, name), { recursive: true, force: true });
  });
}

/** Runs every registered cleanup (each on its own: one failing does not stop the others) and stops QEMUs. */
export function runCleanups(): void {
  for (const fn of [...cleanups]) {
    try {
      fn();
    } catch {
      // best effort: the process is about to exit
    }
  }
  cleanups.clear();
  for (const qemu of liveQemus()) {
    qemu.killGroupSync("registry");
    try {
      rmSync(qemu.tempDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

/** The number of cleanups registered now (for tests). */
export function pendingCleanups(): number {
  return cleanups.size;
}

/**
 * Installs the SIGINT/SIGTERM handlers of the `mrc` executable: clean up, then exit 130/143. Returns a
 * function that removes them. Only the executable installs them (not tests that call `main()`).
 */
export function installSignalCleanup(
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  // temp dirs made with tmp-promise (QEMU work dirs, RAM images of conformance runs) are removed at exit,
  // also when exit comes from a signal handler below: src/qemu/temp-dir.ts turns that on as it loads (only
  // the commands that make such dirs load it, and tmp-promise with it)
  const handlers = (Object.keys(SIGNAL_EXIT_CODES) as Array<keyof typeof SIGNAL_EXIT_CODES>).map((signal) => {
    const handler = () => {
      runCleanups();
      exit(SIGNAL_EXIT_CODES[signal]);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
