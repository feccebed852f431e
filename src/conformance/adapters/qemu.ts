// A real qemu-system-x86_64 behind the runner's result shapes (built on src/qemu): as reader it loads a
// golden into fresh RAM images, as writer it makes a QEMU-made golden again, and it runs QMP sequences.
import { closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import {
  isQemuError,
  type PassedFd,
  type QemuBinary,
  QemuError,
  QemuProcess,
  QmpError,
  qemuLoadFile,
  waitForMigration,
} from "../../qemu/index.js";
import { tempDirSync } from "../../qemu/temp-dir.js";
import { qemuSave } from "../golden/qemu-made.js";
import { parseBig } from "../golden/writer-made.js";
import { type FileCase, isQemuMade, type SequenceCase } from "../model.js";
import type { ReadResult, RunResult, WriteResult } from "../results.js";
import { sha256File } from "../storage.js";
import { oracleFindings } from "./oracle.js";
import { referenceRead, writtenResult } from "./reference.js";

export interface QemuTarget {
  binary: QemuBinary;
  /** appended to every QEMU command line */
  extraArgs: readonly string[];
  /** hard limit per QEMU process, ms */
  timeoutMs?: number;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The VM a golden loads into: the machine and RAM backends it was saved from. */
function loadConfig(c: FileCase) {
  if (isQemuMade(c)) {
    const p = c.params;
    const channels = p.parameters["multifd-channels"];
    return {
      machine: p.machine,
      ...(p.memoryBackend === undefined ? {} : { memoryBackend: p.memoryBackend }),
      ...(p.memory === undefined ? {} : { memory: p.memory }),
      extraArgs: p.extraArgs ?? [],
      blocks: p.blocks,
      capabilities: p.capabilities,
      parameters: typeof channels === "number" ? { "multifd-channels": channels } : {},
    };
  }
  const p = c.params;
  const caps: Record<string, boolean> = { "mapped-ram": true };
  if (p.capabilities?.includes("x-ignore-shared")) caps["x-ignore-shared"] = true;
  return {
    machine: p.machine,
    memoryBackend: p.blocks[0]?.id ?? "r",
    extraArgs: [] as string[],
    blocks: p.blocks,
    capabilities: caps,
    parameters: {},
  };
}

/** QEMU as destination: `migrate-incoming file:GOLDEN,offset=N` into zero-filled RAM images. */
export async function qemuRead(c: FileCase, path: string, target: QemuTarget): Promise<ReadResult> {
  const cfg = loadConfig(c);
  let loaded: Awaited<ReturnType<typeof qemuLoadFile>> | undefined;
  try {
    loaded = await qemuLoadFile({
      binary: target.binary,
      machine: cfg.machine,
      ...(cfg.memoryBackend === undefined ? {} : { memoryBackend: cfg.memoryBackend }),
      ...(cfg.memory === undefined ? {} : { memory: cfg.memory }),
      extraArgs: [...cfg.extraArgs, ...target.extraArgs],
      backends: cfg.blocks.map((b) => ({ id: b.id, size: parseBig(b.size) })),
      capabilities: cfg.capabilities,
      parameters: cfg.parameters,
      file: path,
      offset: parseBig(c.file.offset),
      timeoutMs: target.timeoutMs ?? 60_000,
    });
    const run = loaded.run;
    if (run.signal !== null && isQemuError(run.error, "ERR_QEMU_CRASHED")) {
      return { kind: "crashed", signal: run.signal, message: run.error.message };
    }
    const failure = loaded.failure?.error;
    if (failure instanceof QemuError && failure.signal) {
      return { kind: "crashed", signal: failure.signal, message: failure.message };
    }
    if (loaded.ok) {
      const ram = [];
      for (const b of loaded.backends) ram.push({ idstr: b.id, sha256: await sha256File(b.path) });
      return { kind: "loaded", ram, coverage: "some" };
    }
    const desc =
      loaded.errorDesc ??
      (failure ? failure.message : run.error?.message) ??
      `migration ${loaded.status ?? "did not finish"}`;
    return {
      kind: "rejected",
      message: desc,
      ...(loaded.errorDesc === undefined ? {} : { errorDesc: loaded.errorDesc }),
      stderr: run.stderrTail,
    };
  } catch (e) {
    return { kind: "error", message: message(e) };
  } finally {
    await loaded?.cleanup();
  }
}

/** QEMU as source: make a QEMU-made golden again and compare it (bytes, RAM image, or validity). */
export async function qemuWrite(c: FileCase, golden: string, target: QemuTarget): Promise<WriteResult> {
  if (!isQemuMade(c)) return { kind: "error", message: "only QEMU-made cases are made again by QEMU" };
  const tmp = tempDirSync("mrc-qemuw-");
  try {
    const out = join(tmp.path, "out.mig");
    const run = await qemuSave(c.params, out, tmp.path, {
      binary: target.binary,
      extraArgs: target.extraArgs,
      ...(target.timeoutMs === undefined ? {} : { timeoutMs: target.timeoutMs }),
    });
    if (run.run?.signal != null && isQemuError(run.run.error, "ERR_QEMU_CRASHED")) {
      return { kind: "crashed", signal: run.run.signal, message: run.failure ?? run.run.error.message };
    }
    if (!run.ok) return { kind: "failed", message: run.failure ?? "the save did not complete" };
    const result = await writtenResult(c, out, golden);
    if (c.provenance.compare !== "bytes") {
      const offset = parseBig(c.file.offset);
      const check = await oracleFindings(out, offset);
      if (check.kind === "error") return { kind: "error", message: `oracle: ${check.message}` };
      result.validity = { findings: check.findings };
      if (c.provenance.compare === "validity") result.validity.read = await referenceRead(out, offset);
    }
    return result;
  } catch (e) {
    return { kind: "error", message: message(e) };
  } finally {
    await tmp.cleanup();
  }
}

const FLAG_BITS: Record<SequenceCase["params"]["fds"][number]["flags"][number], number> = {
  O_WRONLY: constants.O_WRONLY,
  O_RDONLY: constants.O_RDONLY,
  O_RDWR: constants.O_RDWR,
  O_CREAT: constants.O_CREAT,
  O_TRUNC: constants.O_TRUNC,
  O_DIRECT: constants.O_DIRECT ?? 0,
};

/** Runs a QMP sequence; QEMU refusing a step is fine, QEMU dying is not. */
export async function qemuRun(c: SequenceCase, target: QemuTarget): Promise<RunResult> {
  const tmp = tempDirSync("mrc-seq-");
  const opened: number[] = [];
  let qemu: QemuProcess | undefined;
  try {
    const fds: PassedFd[] = c.params.fds.map((f, i) => {
      const fd = openSync(
        join(tmp.path, `fd${i}.mig`),
        f.flags.reduce((acc, name) => acc | FLAG_BITS[name], 0),
        0o600,
      );
      opened.push(fd);
      return { fd, set: f.set, ...(f.opaque === undefined ? {} : { opaque: f.opaque }) };
    });
    qemu = await QemuProcess.start({
      binary: target.binary,
      machine: c.params.machine,
      ...(c.params.memory === undefined ? {} : { memory: c.params.memory }),
      fds,
      extraArgs: [...target.extraArgs],
      timeoutMs: target.timeoutMs ?? 60_000,
    });
    for (const fd of opened.splice(0)) closeSync(fd);
    let outcome = "every step accepted";
    try {
      for (const step of c.params.steps) await qemu.execute(step.execute, step.arguments);
      if (c.params.waitForMigration) {
        const done = await waitForMigration(qemu, 30_000);
        outcome = `migration ${done.status}${done.errorDesc ? `: ${done.errorDesc}` : ""}`;
      }
      await qemu.execute("query-status");
    } catch (e) {
      if (e instanceof QmpError) outcome = `refused: ${e.desc}`;
      else if (!(e instanceof QemuError)) throw e;
      else if (e.signal) return { kind: "crashed", signal: e.signal, message: e.message };
      else throw e;
    }
    const run = await qemu.stop();
    if (run.signal !== null && isQemuError(run.error, "ERR_QEMU_CRASHED")) {
      return { kind: "crashed", signal: run.signal, message: run.error.message };
    }
    return { kind: "survived", outcome };
  } catch (e) {
    return { kind: "error", message: message(e) };
  } finally {
    for (const fd of opened) closeSync(fd);
    await qemu?.stop();
    await tmp.cleanup();
  }
}
