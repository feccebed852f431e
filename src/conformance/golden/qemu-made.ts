// QEMU-made goldens: a stopped VM whose RAM blocks are pattern images (memory-backend-file, share=on)
// saved by a real qemu-system-x86_64 to `file:` — plain, or live with guest writes over qtest while a
// paced migration runs. The same code regenerates a case for the runner's "QEMU as writer" check.
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  fileUri,
  migrate,
  type QemuBinary,
  QemuError,
  QemuProcess,
  type QemuRunResult,
  QmpError,
  qemuSaveFile,
  setCapabilities,
  setParameters,
  UNLIMITED_BANDWIDTH,
  waitForMigration,
} from "../../qemu/index.js";
import type { QemuSaveParams, QmpCall } from "../model.js";
import { imageDigest, PAGE_SIZE, writeImage } from "../patterns.js";
import { QtestClient } from "../qtest.js";
import { parseBig, prefixBytes } from "./writer-made.js";

export interface QemuSaveRun {
  /** the migration completed and QEMU exited cleanly */
  ok: boolean;
  /** argv with temp paths replaced by placeholders */
  argv: string[];
  qmp: QmpCall[];
  notes: string[];
  /** what went wrong, one line (QEMU's error text, or how it died) */
  failure?: string;
  run?: QemuRunResult;
  /** sha256 of each block's RAM at the end of the save (pattern + live writes) */
  finalRam: Map<string, string>;
}

export interface QemuSaveOptions {
  binary: QemuBinary;
  /** appended to QEMU's command line (e.g. `-global migration.send-section-footer=off`) */
  extraArgs?: readonly string[];
  /** hard limit for the QEMU process, ms */
  timeoutMs?: number;
}

function capabilityList(caps: Record<string, boolean>) {
  return Object.entries(caps).map(([capability, state]) => ({ capability, state }));
}

/** Replaces temp paths in QEMU's argv with stable placeholders. */
export function normaliseArgv(argv: readonly string[], paths: ReadonlyMap<string, string>): string[] {
  return argv.map((arg, i) => {
    if (argv[i - 1] === "-qmp") return arg.replace(/^unix:[^,]*/, "unix:<qmp>");
    let out = arg;
    for (const [path, label] of paths) out = out.replaceAll(path, label);
    return out;
  });
}

function describeFailure(error: unknown): string {
  if (error instanceof QmpError) return error.desc;
  if (error instanceof QemuError)
    return error.signal ? `crashed: exited by signal ${error.signal}` : error.message;
  return error instanceof Error ? error.message : String(error);
}

/** Saves the VM of `params` to `out` with QEMU. Images are written into `tmp`. */
export async function qemuSave(
  params: QemuSaveParams,
  out: string,
  tmp: string,
  options: QemuSaveOptions,
): Promise<QemuSaveRun> {
  const paths = new Map<string, string>([[resolve(out), "<file>"]]);
  const backends: { id: string; path: string; size: bigint }[] = [];
  const finalRam = new Map<string, string>();
  for (const b of params.blocks) {
    const path = resolve(join(tmp, `${b.id}.img`));
    const size = parseBig(b.size);
    await writeImage(path, size, b.pattern);
    backends.push({ id: b.id, path, size });
    const writes = params.live?.block === b.id ? params.live.writes : [];
    finalRam.set(b.id, imageDigest(size, b.pattern, writes).sha256);
    paths.set(path, `<image:${b.id}>`);
  }
  if (params.memoryBackend === undefined && params.memory !== undefined && params.blocks.length === 0) {
    // `-M none -m 8M`: one zero block named "ram"
    const m = /^([0-9]+)M$/.exec(params.memory);
    if (m) finalRam.set("ram", imageDigest(BigInt(m[1] as string) << 20n, { kind: "zero" }).sha256);
  }
  if (params.prefix !== undefined) await writeFile(out, prefixBytes(params.prefix));
  const extraArgs = [...(params.extraArgs ?? []), ...(options.extraArgs ?? [])];
  const uri = fileUri(resolve(out), params.offset);
  const qmpUri = uri.replace(resolve(out), "<file>");
  if (params.live !== undefined)
    return liveSave(params, uri, qmpUri, backends, extraArgs, paths, finalRam, tmp, options);

  const parameters = { "max-bandwidth": UNLIMITED_BANDWIDTH, ...params.parameters };
  const qmp: QmpCall[] = [
    { execute: "migrate-set-capabilities", arguments: { capabilities: capabilityList(params.capabilities) } },
    { execute: "migrate-set-parameters", arguments: parameters },
    { execute: "migrate", arguments: { uri: qmpUri } },
    { execute: "query-migrate" },
  ];
  const result = await qemuSaveFile({
    binary: options.binary,
    machine: params.machine,
    ...(params.memoryBackend === undefined ? {} : { memoryBackend: params.memoryBackend }),
    ...(params.memory === undefined ? {} : { memory: params.memory }),
    extraArgs,
    backends: backends.map((b) => ({ id: b.id, path: b.path, size: b.size })),
    capabilities: params.capabilities,
    parameters,
    maxBandwidth: false,
    uri,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  const run: QemuSaveRun = {
    ok: result.ok,
    argv: normaliseArgv(result.argv, paths),
    qmp,
    notes: [],
    run: result.run,
    finalRam,
  };
  const failure =
    result.run.error?.signal != null
      ? `crashed: exited by signal ${result.run.error.signal}`
      : (result.errorDesc ??
        (result.failure ? describeFailure(result.failure.error) : undefined) ??
        (result.ok
          ? undefined
          : (result.run.error?.message ?? `migration ended ${result.status ?? "without status"}`)));
  if (failure !== undefined) run.failure = failure;
  return run;
}

async function liveSave(
  params: QemuSaveParams,
  uri: string,
  qmpUri: string,
  backends: { id: string; path: string; size: bigint }[],
  extraArgs: string[],
  paths: Map<string, string>,
  finalRam: Map<string, string>,
  tmp: string,
  options: QemuSaveOptions,
): Promise<QemuSaveRun> {
  const live = params.live as NonNullable<QemuSaveParams["live"]>;
  const sock = join(tmp, "qtest.sock");
  paths.set(sock, "<qtest>");
  const parameters = { ...params.parameters, "max-bandwidth": live.maxBandwidth };
  const qmp: QmpCall[] = [
    { execute: "migrate-set-capabilities", arguments: { capabilities: capabilityList(params.capabilities) } },
    { execute: "migrate-set-parameters", arguments: parameters },
    { execute: "migrate", arguments: { uri: qmpUri } },
    { execute: "query-migrate" },
  ];
  const notes: string[] = [];
  const qemu = await QemuProcess.start({
    binary: options.binary,
    machine: params.machine,
    ...(params.memoryBackend === undefined ? {} : { memoryBackend: params.memoryBackend }),
    memoryBackends: backends.map((b) => ({ id: b.id, size: b.size, memPath: b.path })),
    accel: "tcg",
    extraArgs: [...extraArgs, "-qtest", `unix:${sock},server=on,wait=off`, "-qtest-log", "/dev/null"],
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  let failure: string | undefined;
  let qtest: QtestClient | undefined;
  try {
    qtest = await QtestClient.connect(sock);
    await setCapabilities(qemu, params.capabilities);
    await setParameters(qemu, parameters);
    await migrate(qemu, uri);
    let transferred = 0;
    for (;;) {
      const info = await qemu.execute("query-migrate");
      transferred = info.ram?.transferred ?? 0;
      if (info.status === "completed" || info.status === "failed" || info.status === "cancelled") {
        throw new Error(`the save ended (${info.status}) before ${live.afterBytes} bytes were transferred`);
      }
      if (transferred >= live.afterBytes) break;
      await sleep(5);
    }
    notes.push(
      `guest writes started after ram.transferred = ${transferred} bytes (threshold ${live.afterBytes})`,
    );
    for (const w of live.writes) {
      await qtest.memset(BigInt(w.firstPage) * BigInt(PAGE_SIZE), w.count * PAGE_SIZE, w.byte);
      notes.push(
        `qtest memset pages ${w.firstPage}..${w.firstPage + w.count - 1} of "${live.block}" to 0x${w.byte.toString(16)}`,
      );
    }
    const after = await qemu.execute("query-migrate");
    if (after.status !== "active") {
      throw new Error(`the save was ${after.status} before the guest writes were done; lower maxBandwidth`);
    }
    notes.push(`status after the writes: active, ram.transferred = ${after.ram?.transferred ?? 0}`);
    const done = await waitForMigration(qemu, 60_000);
    if (done.status !== "completed") failure = done.errorDesc ?? `migration ${done.status}`;
    notes.push(`completed after ${done.raw.ram?.["dirty-sync-count"] ?? "?"} dirty syncs`);
  } catch (e) {
    failure = describeFailure(e);
  } finally {
    qtest?.close();
  }
  const run = await qemu.stop();
  if (run.error?.signal != null) failure = `crashed: exited by signal ${run.error.signal}`;
  const out: QemuSaveRun = {
    ok: failure === undefined && run.error === undefined,
    argv: normaliseArgv(qemu.argv, paths),
    qmp,
    notes,
    run,
    finalRam,
  };
  if (failure !== undefined) out.failure = failure;
  return out;
}
