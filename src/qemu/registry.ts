// Process-wide registry of running QEMUs: each is killed (process group, SIGKILL) and its temp dir removed
// when this Node process exits or receives SIGINT/SIGTERM, so no test run leaves a QEMU behind.
import { rmSync } from "node:fs";

/** What the registry needs from a running QEMU. */
export interface RegisteredQemu {
  readonly pid: number;
  /** private temp dir to remove at exit */
  readonly tempDir: string;
  /** SIGKILL the whole process group, synchronously; must not throw */
  killGroupSync(reason: "registry"): void;
  /** the orderly way to end it (quit, reap, clean up) */
  stop(): Promise<unknown>;
}

const live = new Set<RegisteredQemu>();
const SIGNALS = ["SIGINT", "SIGTERM"] as const;
let installed = false;

function killAll(): void {
  for (const qemu of live) {
    qemu.killGroupSync("registry");
    try {
      rmSync(qemu.tempDir, { recursive: true, force: true });
    } catch {
      // best effort at exit: nothing else can be done
    }
  }
  live.clear();
}

function onExit(): void {
  killAll();
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  // Our listener replaced Node's default action (exit). If nobody else listens, restore it and re-raise.
  uninstall();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off("exit", onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/** Adds a QEMU; installs the exit and signal handlers while at least one is registered. */
export function registerQemu(qemu: RegisteredQemu): void {
  live.add(qemu);
  install();
}

/** Removes a QEMU once it has been reaped; removes the handlers when none is left. */
export function unregisterQemu(qemu: RegisteredQemu): void {
  live.delete(qemu);
  if (live.size === 0) uninstall();
}

/** The QEMUs started by this process and not yet reaped. */
export function liveQemus(): readonly RegisteredQemu[] {
  return [...live];
}
