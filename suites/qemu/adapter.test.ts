// The QEMU adapter (src/qemu) against a real qemu-system-x86_64; pure parts first, without QEMU.
import { createHash } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { dir } from "tmp-promise";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { u32beAt, u64beAt, viewOf } from "../../src/impl/bytes.js";
import {
  buildQemuArgs,
  fileUri,
  isQemuError,
  parseQemuVersion,
  QemuError,
  QemuProcess,
  type QemuStartOptions,
  QmpClient,
  QmpError,
  qemuLoadFile,
  qemuSaveFile,
  withQemu,
} from "../../src/qemu/index.js";
import { describeQemu, expectNoQemuLeft, suiteQemu } from "../helpers/qemu.js";

const PAGE = 4096;
const PAGES = 2048;
const RAM_SIZE = PAGE * PAGES; // 8 MiB
/** The byte of pages ≡ 1 (mod 4); spec section 8 leaves it free, its landmark dump shows 0x07. */
const FILL = 0x07;

/** mapped-ram-format.md section 8: the reference RAM pattern (562 zero pages, 1486 non-zero). */
function patternRam(): Uint8Array {
  const ram = new Uint8Array(RAM_SIZE);
  const view = viewOf(ram);
  for (let p = 0; p < PAGES; p++) {
    const base = p * PAGE;
    if (p >= 1000 && p < 1100) continue;
    if (p >= 1500 && p < 1600) {
      ram.fill(0x55, base, base + PAGE);
      continue;
    }
    if (p % 4 === 1) ram.fill(FILL, base, base + PAGE);
    else if (p % 4 === 2) ram[base + PAGE - 1] = 0xaa;
    else if (p % 4 === 3) view.setBigUint64(base, BigInt(p), true);
  }
  return ram;
}

function pageIsZero(ram: Uint8Array, p: number): boolean {
  return ram.subarray(p * PAGE, (p + 1) * PAGE).every((b) => b === 0);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

describe("qemu adapter, pure parts", () => {
  it("parses --version output", () => {
    expect(parseQemuVersion("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)\nCopyright")).toEqual({
      major: 10,
      minor: 0,
      micro: 2,
    });
    expect(parseQemuVersion("QEMU emulator version 9.0")).toEqual({ major: 9, minor: 0, micro: 0 });
    expect(parseQemuVersion("qemu-img version 10.0.2")).toBeUndefined();
  });

  it("builds a command line without -m when a memory backend is given", () => {
    const args = buildQemuArgs(
      {
        machine: "none",
        machineProps: { "suppress-vmdesc": true },
        memoryBackend: "r",
        memoryBackends: [{ id: "r", size: 8388608, memPath: "/tmp/a,b.img" }],
        memory: "64M",
        incoming: true,
        uuid: "6a7c4ad3-6ef4-4b14-9e3c-1f2a3b4c5d6e",
        globals: { "migration.send-configuration": false },
        fds: [{ fd: 17, set: 1, opaque: "out" }],
        extraArgs: ["-name", "t"],
      },
      "/run/q/qmp.sock",
    );
    expect(args).toEqual([
      "-M",
      "none,suppress-vmdesc=on,memory-backend=r",
      "-S",
      "-nodefaults",
      "-display",
      "none",
      "-qmp",
      "unix:/run/q/qmp.sock,server=on,wait=off",
      "-object",
      "memory-backend-file,id=r,size=8388608,mem-path=/tmp/a,,b.img,share=on",
      "-accel",
      "tcg",
      "-uuid",
      "6a7c4ad3-6ef4-4b14-9e3c-1f2a3b4c5d6e",
      "-add-fd",
      "fd=3,set=1,opaque=out",
      "-global",
      "migration.send-configuration=off",
      "-incoming",
      "defer",
      "-name",
      "t",
    ]);
    expect(buildQemuArgs({ machine: "none", memory: "64M" }, "/s")).toContain("-m");
  });

  it("builds file: URIs with the offset as given", () => {
    expect(fileUri("/x/m.img")).toBe("file:/x/m.img");
    expect(fileUri("/x/m.img", 1048576n)).toBe("file:/x/m.img,offset=1048576");
    expect(fileUri("/x/m.img", "4k")).toBe("file:/x/m.img,offset=4k");
  });
});

/** A scripted QMP peer on a unix socket: `onCommand` answers each command line (or not, if it returns undefined). */
async function fakeQmp(
  onCommand: (command: string, id: unknown, socket: Socket) => Promise<void>,
): Promise<{ path: string; server: Server; cleanup(): Promise<void> }> {
  const temp = await dir({ prefix: "mrc-fakeqmp-", unsafeCleanup: true });
  const path = join(temp.path, "qmp.sock");
  const server = createServer((socket) => {
    socket.setEncoding("utf8");
    socket.on("error", () => {});
    // The greeting arrives in two pieces, split inside a JSON string.
    socket.write('{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "maj');
    let chain = sleep(5).then(() => {
      socket.write('or": 10}, "package": "fake"}, "capabilities": ["oob"]}}\r\n');
    });
    let buffer = "";
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const message = JSON.parse(buffer.slice(0, nl)) as { execute: string; id: unknown };
        buffer = buffer.slice(nl + 1);
        // One command at a time, as QEMU's monitor does, so replies never interleave with a half-sent line.
        chain = chain.then(() => onCommand(message.execute, message.id, socket));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    server,
    cleanup: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await temp.cleanup();
    },
  };
}

const reply = (socket: Socket, id: unknown, body: Record<string, unknown>) =>
  socket.write(`${JSON.stringify({ ...body, id })}\r\n`);

describe("QmpClient against a scripted peer", () => {
  it("handles split lines, events, error replies and late replies", async () => {
    const peer = await fakeQmp(async (command, id, socket) => {
      if (command === "qmp_capabilities") {
        // The reply and the first half of an event in one chunk, the rest later.
        socket.write(
          `${JSON.stringify({ return: {}, id })}\r\n{"timestamp": {"seconds": 7, "microseconds": 9}, "ev`,
        );
        await sleep(5);
        socket.write('ent": "STOP"}\r\n');
      } else if (command === "query-status") {
        reply(socket, id, { return: { running: false, status: "prelaunch" } });
      } else if (command === "bad") {
        reply(socket, id, { error: { class: "GenericError", desc: "Exact text, with ,, commas" } });
      } else if (command === "slow") {
        await sleep(80);
        reply(socket, id, { return: 1 });
      } else if (command === "emit") {
        reply(socket, id, { return: {} });
        await sleep(5);
        socket.write(
          '{"timestamp": {"seconds": 8, "microseconds": 1}, "event": "RESUME", "data": {"n": 2}}\r\n',
        );
      }
    });
    const client = await QmpClient.connect(peer.path, { commandTimeoutMs: 2_000 });
    try {
      expect(client.version).toEqual({ major: 10, minor: 0, micro: 2 });
      expect(await client.execute("query-status")).toEqual({ running: false, status: "prelaunch" });
      expect(await client.waitForEvent("STOP", undefined, 1_000)).toEqual({
        event: "STOP",
        data: {},
        timestamp: { seconds: 7, microseconds: 9 },
      });
      await expect(client.execute("bad")).rejects.toMatchObject({
        name: "QmpError",
        class: "GenericError",
        desc: "Exact text, with ,, commas",
        command: "bad",
      });
      const since = client.events.length;
      const resumed = client.waitForEvent("RESUME", (e) => e.data.n === 2, 1_000, { since });
      await client.execute("emit");
      expect((await resumed).timestamp).toEqual({ seconds: 8, microseconds: 1 });
      // A reply after its timeout is dropped; the connection stays usable.
      await expect(client.execute("slow", undefined, { timeoutMs: 20 })).rejects.toMatchObject({
        code: "ERR_QMP_TIMEOUT",
      });
      await sleep(100);
      expect((await client.execute("query-status")).status).toBe("prelaunch");
      await expect(client.waitForEvent("NEVER", undefined, 20)).rejects.toMatchObject({
        code: "ERR_QMP_TIMEOUT",
      });
    } finally {
      client.close();
      await peer.cleanup();
    }
  });

  it("rejects pending calls and waits when the socket closes", async () => {
    const peer = await fakeQmp(async (command, id, socket) => {
      if (command === "qmp_capabilities") reply(socket, id, { return: {} });
      if (command === "die") {
        await sleep(20);
        socket.destroy();
      }
    });
    const client = await QmpClient.connect(peer.path);
    try {
      const waiting = client.waitForEvent("SHUTDOWN", undefined, 5_000);
      await expect(client.execute("die")).rejects.toMatchObject({ code: "ERR_QMP_CLOSED" });
      await expect(waiting).rejects.toMatchObject({ code: "ERR_QMP_CLOSED" });
      expect(client.isClosed).toBe(true);
      await expect(client.execute("query-status")).rejects.toMatchObject({ code: "ERR_QMP_CLOSED" });
    } finally {
      client.close();
      await peer.cleanup();
    }
  });

  it("refuses a peer that does not greet with QMP", async () => {
    const temp = await dir({ prefix: "mrc-fakeqmp-", unsafeCleanup: true });
    const path = join(temp.path, "qmp.sock");
    const server = createServer((socket) => socket.end("hello\n"));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      await expect(QmpClient.connect(path, { timeoutMs: 1_000 })).rejects.toMatchObject({
        code: "ERR_QMP_PROTOCOL",
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await temp.cleanup();
    }
  });
});

/**
 * A stand-in for qemu-system-x86_64: a node script that serves QMP on the `-qmp unix:PATH` socket. The
 * first `silent` connections get a greeting and no reply to anything; later ones answer every command,
 * and `quit` ends the process. Each connection appends a line to `log`.
 */
async function fakeQemuBinary(work: string, silent: number): Promise<{ path: string; log: string }> {
  const path = join(work, "fake-qemu.mjs");
  const log = join(work, "connections.log");
  await writeFile(
    path,
    `#!${process.execPath}
import { appendFileSync } from "node:fs";
import { createServer } from "node:net";
const qmp = process.argv[process.argv.indexOf("-qmp") + 1];
const socketPath = qmp.slice("unix:".length, qmp.indexOf(",server=on"));
let connections = 0;
createServer((socket) => {
  const n = ++connections;
  appendFileSync(${JSON.stringify(log)}, (n <= ${silent} ? "silent" : "answering") + "\\n");
  socket.setEncoding("utf8");
  socket.on("error", () => {});
  socket.write('{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": []}}\\r\\n');
  let buffer = "";
  socket.on("data", (chunk) => {
    buffer += chunk;
    for (let nl = buffer.indexOf("\\n"); nl >= 0; nl = buffer.indexOf("\\n")) {
      const message = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      if (n <= ${silent}) continue;
      socket.write(JSON.stringify({ return: {}, id: message.id }) + "\\r\\n");
      if (message.execute === "quit") setTimeout(() => process.exit(0), 10);
    }
  });
}).listen(socketPath);
`,
    { mode: 0o755 },
  );
  return { path, log };
}

describe("QemuProcess start-up against a stand-in binary", () => {
  /** Starts the stand-in as a `-M none` QEMU 10.0.2 with the given time limits. */
  const start = (path: string, limits: Partial<QemuStartOptions>) =>
    QemuProcess.start({
      binary: {
        path,
        version: { major: 10, minor: 0, micro: 2 },
        text: "QEMU emulator version 10.0.2 (stand-in)\n",
        hasMappedRam: true,
      },
      machine: "none",
      ...limits,
    });
  let work: string;
  beforeEach(async () => {
    work = (await dir({ prefix: "mrc-fakeqemu-", unsafeCleanup: true })).path;
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("a connection whose qmp_capabilities is never answered is dropped and a new one is made", async () => {
    const fake = await fakeQemuBinary(work, 1);
    const qemu = await start(fake.path, { qmpAttemptTimeoutMs: 300, startTimeoutMs: 10_000 });
    const run = await qemu.stop();
    expect((await readFile(fake.log, "utf8")).split("\n")).toEqual(["silent", "answering", ""]);
    expect([run.exitCode, run.signal, run.error]).toEqual([0, null, undefined]);
  });

  it("a QEMU that never answers: ERR_QEMU_START at the start deadline, caused by the last attempt's timeout", async () => {
    const fake = await fakeQemuBinary(work, 1_000);
    const failed = await start(fake.path, {
      qmpAttemptTimeoutMs: 200,
      startTimeoutMs: 700,
      quitGraceMs: 100,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failed).toMatchObject({
      code: "ERR_QEMU_START",
      message: expect.stringMatching(/: qmp not ready within 700 ms$/),
      cause: { code: "ERR_QMP_TIMEOUT" },
    });
    const attempts = (await readFile(fake.log, "utf8")).trim().split("\n");
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(new Set(attempts)).toEqual(new Set(["silent"]));
  });
});

describeQemu("qemu adapter", () => {
  let work: string;
  let imagePath: string;
  const ram = patternRam();

  beforeAll(async () => {
    work = (await dir({ prefix: "mrc-adapter-", unsafeCleanup: true })).path;
    imagePath = join(work, "ram.img");
    await writeFile(imagePath, ram);
    return async () => {
      await rm(work, { recursive: true, force: true });
    };
  });

  afterEach(async () => {
    await expectNoQemuLeft();
  });

  it("QMP greeting and query-version equal the --version numbers", async () => {
    const binary = suiteQemu();
    const { value, run } = await withQemu({ binary, machine: "none" }, async (qemu) => ({
      greeting: qemu.qmp.greeting.QMP.version.qemu,
      queried: (await qemu.execute("query-version")).qemu,
      status: await qemu.execute("query-status"),
    }));
    expect(value.greeting).toEqual(binary.version);
    expect(value.queried).toEqual(binary.version);
    expect(value.status.status).toBe("prelaunch");
    expect(run.exitCode).toBe(0);
    expect(run.signal).toBeNull();
    expect(run.error).toBeUndefined();
    expect(run.events.map((e) => e.event)).toContain("SHUTDOWN");
    expect(run.events.every((e) => e.timestamp.seconds > 0)).toBe(true);
  });

  it("reports QEMU's error class and desc exactly", async () => {
    await withQemu({ binary: suiteQemu(), machine: "none" }, async (qemu) => {
      const refused = await qemu
        .execute("migrate-set-capabilities", {
          capabilities: [
            { capability: "mapped-ram", state: true },
            { capability: "xbzrle", state: true },
          ],
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(refused).toBeInstanceOf(QmpError);
      expect(refused).toMatchObject({
        class: "GenericError",
        desc: "Mapped-ram migration is incompatible with xbzrle",
        command: "migrate-set-capabilities",
      });
      await expect(qemu.execute("no-such-command")).rejects.toMatchObject({
        class: "CommandNotFound",
        desc: "The command no-such-command has not been found",
      });
      // The connection is still usable after errors.
      expect((await qemu.execute("query-migrate-capabilities")).length).toBeGreaterThan(0);
    });
  });

  it("saves an 8 MiB image with mapped-ram, at offset 0 and 1M, and loads it back", async () => {
    const binary = suiteQemu();
    const common = {
      binary,
      machine: "none",
      memoryBackend: "r",
      capabilities: { "mapped-ram": true },
    } as const;

    // Offset 0: section 8.1 landmarks.
    const file0 = join(work, "offset0.mig");
    const saved0 = await qemuSaveFile({ ...common, backends: [{ id: "r", path: imagePath }], file: file0 });
    expect(saved0.failure).toBeUndefined();
    expect(saved0.ok).toBe(true);
    expect(saved0.status).toBe("completed");
    expect(saved0.argv).not.toContain("-m");
    const out0 = new Uint8Array(await readFile(file0));
    expect(out0.length).toBe(9438450);
    expect(u32beAt(out0, 0)).toBe(0x5145564d); // "QEVM"
    expect(u32beAt(out0, 0x63)).toBe(1); // MappedRamHeader version
    expect(u64beAt(out0, 0x67)).toBe(4096n); // page_size
    expect(u64beAt(out0, 0x6f)).toBe(0x7fn); // bitmap_offset
    expect(u64beAt(out0, 0x77)).toBe(0x100000n); // pages_offset
    let setBits = 0;
    for (let p = 0; p < PAGES; p++) {
      const bit = ((out0[0x7f + (p >> 3)] ?? 0) >> (p & 7)) & 1;
      setBits += bit;
      expect(bit, `bitmap bit of page ${p}`).toBe(pageIsZero(ram, p) ? 0 : 1);
      if (bit === 1) {
        const page = out0.subarray(0x100000 + p * PAGE, 0x100000 + (p + 1) * PAGE);
        expect(sha256(page), `page ${p}`).toBe(sha256(ram.subarray(p * PAGE, (p + 1) * PAGE)));
      }
    }
    expect(setBits).toBe(1486);

    // Offset 1M into a file with an 'X' prefix: header at 0x100063, end 0xa004f2 (table 4.4), prefix kept.
    const file1 = join(work, "offset1m.mig");
    await writeFile(file1, new Uint8Array(0x100000 + 4096).fill(0x58));
    const saved1 = await qemuSaveFile({
      ...common,
      backends: [{ id: "r", path: imagePath, size: RAM_SIZE }],
      file: file1,
      offset: "1M",
    });
    expect(saved1.ok).toBe(true);
    const out1 = new Uint8Array(await readFile(file1));
    expect(out1.length).toBe(0xa004f2);
    expect(out1.subarray(0, 0x100000).every((b) => b === 0x58)).toBe(true);
    expect(u32beAt(out1, 0x100000)).toBe(0x5145564d);
    expect(u64beAt(out1, 0x100063 + 12)).toBe(0x10007fn);
    expect(u64beAt(out1, 0x100063 + 20)).toBe(0x200000n);
    // The source image is untouched by the save.
    expect(sha256(new Uint8Array(await readFile(imagePath)))).toBe(sha256(ram));

    // Load it back (same offset) into a fresh zero-filled backend; the stream file must not change.
    const before = sha256(out1);
    const loaded = await qemuLoadFile({
      ...common,
      backends: [{ id: "r", size: RAM_SIZE }],
      file: file1,
      offset: 0x100000,
    });
    try {
      expect(loaded.failure).toBeUndefined();
      expect(loaded.ok).toBe(true);
      expect(loaded.status).toBe("completed");
      const image = loaded.backends[0];
      expect(image?.size).toBe(BigInt(RAM_SIZE));
      const back = new Uint8Array(await readFile(image?.path ?? ""));
      expect(back.length).toBe(RAM_SIZE);
      expect(Buffer.compare(back, ram)).toBe(0);
    } finally {
      await loaded.cleanup();
    }
    expect(sha256(new Uint8Array(await readFile(file1)))).toBe(before);

    // Loading it at the wrong offset fails with QEMU's error-desc, and QEMU stays up to report it.
    const wrong = await qemuLoadFile({ ...common, backends: [{ id: "r", size: RAM_SIZE }], file: file1 });
    await wrong.cleanup();
    expect(wrong.ok).toBe(false);
    expect(wrong.status).toBe("failed");
    expect(wrong.errorDesc).toBe("load of migration failed: Invalid argument");
    expect(wrong.run.error).toBeUndefined();
  });

  it("passes fds with -add-fd: a save to /dev/fdset/1 equals the save to a path", async () => {
    const out = join(work, "fdset.mig");
    const fd = openSync(out, "w", 0o600);
    let saved: Awaited<ReturnType<typeof qemuSaveFile>>;
    try {
      saved = await qemuSaveFile({
        binary: suiteQemu(),
        machine: "none",
        memoryBackend: "r",
        backends: [{ id: "r", path: imagePath }],
        capabilities: { "mapped-ram": true },
        fds: [{ fd, set: 1 }],
        uri: "file:/dev/fdset/1",
      });
    } finally {
      closeSync(fd);
    }
    expect(saved.failure).toBeUndefined();
    expect(saved.ok).toBe(true);
    expect(saved.argv).toContain("fd=3,set=1");
    const bytes = new Uint8Array(await readFile(out));
    expect(sha256(bytes)).toBe(sha256(new Uint8Array(await readFile(join(work, "offset0.mig")))));
  });

  it("kills a hung QEMU at the hard timeout and rejects pending waits", async () => {
    const qemu = await QemuProcess.start({ binary: suiteQemu(), machine: "none", timeoutMs: 400 });
    const waited = await qemu.waitForEvent("NEVER-SENT", undefined, 20_000).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isQemuError(waited, "ERR_QEMU_TIMEOUT")).toBe(true);
    const run = await qemu.stop();
    expect(run.signal).toBe("SIGKILL");
    expect(run.exitCode).toBeNull();
    expect(run.error?.code).toBe("ERR_QEMU_TIMEOUT");
    expect(run.durationMs).toBeGreaterThanOrEqual(400);
    expect(run.durationMs).toBeLessThan(5_000);
  });

  it("reports a crashed QEMU with its signal", async () => {
    const qemu = await QemuProcess.start({ binary: suiteQemu(), machine: "none" });
    process.kill(qemu.pid, "SIGSEGV");
    const failed = await qemu.execute("query-status").then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(QemuError);
    expect(failed).toMatchObject({ code: "ERR_QEMU_CRASHED", signal: "SIGSEGV" });
    const run = await qemu.stop();
    expect(run.signal).toBe("SIGSEGV");
    expect(run.error?.code).toBe("ERR_QEMU_CRASHED");
    expect(run.error?.message).toContain("SIGSEGV");
  });

  it("withQemu stops QEMU when the callback throws, and rethrows", async () => {
    let pid = 0;
    await expect(
      withQemu({ binary: suiteQemu(), machine: "none" }, async (qemu) => {
        pid = qemu.pid;
        throw new Error("callback failed");
      }),
    ).rejects.toThrow("callback failed");
    expect(pid).toBeGreaterThan(0);
  });

  it("fails to start with a clear error when QEMU rejects its command line", async () => {
    const started = await QemuProcess.start({ binary: suiteQemu(), machine: "no-such-machine" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isQemuError(started, "ERR_QEMU_START")).toBe(true);
    expect(started).toMatchObject({ exitCode: 1, signal: null });
  });
});
