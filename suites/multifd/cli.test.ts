// `mrc send` and `mrc receive` as a user runs them (the built CLI, dist/bin/mrc.js, built by `npm test`):
// the first output line of receive is the address really listened on; outputs, exit codes and one-line
// errors. Unix sockets and loopback TCP only; every child runs under a hard timeout and is reaped.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MRC_MAIN, mrc, receiveInBackground } from "../helpers/cli.js";
import { describeQemu } from "../helpers/qemu.js";
import { fakeMigration, playFake } from "./fake-sender.js";
import { migrateIntoQemu, patternImage } from "./fixtures.js";

const LIMIT_MS = 20_000;

/** A child process we must reap. */
type Child = Promise<unknown> & { kill(signal?: NodeJS.Signals): boolean };

/** `mrc receive ...` in the background (suites/helpers/cli.ts). */
const receive = (args: readonly string[]) => receiveInBackground(args);

describe("mrc send / mrc receive (CLI)", () => {
  let work: string;
  let image: string;
  const ram = patternImage(512);
  const children: Child[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "mrc-multifd-cli-"));
    image = join(work, "ram.img");
    await writeFile(image, ram);
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill("SIGKILL");
      await c;
    }
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("receive writes the block sent by send (unix, 2 channels, legacy zero pages)", async () => {
    const rx = receive([
      "--listen",
      `unix:${join(work, "a.sock")}`,
      "--multifd-channels",
      "2",
      "-o",
      join(work, "a"),
    ]);
    children.push(rx.child);
    const to = await rx.address;
    expect(to).toBe(`unix:${join(work, "a.sock")}`);
    const sent = await mrc(
      [
        "send",
        "--block",
        `r=${image}`,
        "--multifd-channels",
        "2",
        "--zero-page-detection",
        "legacy",
        "--to",
        to,
      ],
      LIMIT_MS,
    );
    expect(sent.stderr).toBe("");
    expect(sent.exitCode).toBe(0);
    expect(sent.stdout).toMatch(
      /^sent to unix:.*: main channel \d+ bytes \(3 MULTIFD_FLUSH, \d+ zero-page records\)/,
    );
    const got = await rx.child;
    expect(got.exitCode).toBe(0);
    expect(String(got.stdout)).toContain(
      `${join(work, "a", "r.bin")}: block "r" 0x200000 bytes, 512 pages received`,
    );
    expect(Buffer.from(await readFile(join(work, "a", "r.bin"))).equals(ram)).toBe(true);
  });

  it("receive --json on tcp port 0 prints the real port, then the result", async () => {
    const child = execa(
      process.execPath,
      [
        MRC_MAIN,
        "receive",
        "--listen",
        "tcp:127.0.0.1:0",
        "--multifd-channels",
        "1",
        "-o",
        join(work, "b.mig"),
        "--json",
      ],
      { reject: false, timeout: LIMIT_MS, stdin: "ignore" },
    );
    children.push(child);
    const first = await new Promise<string>((resolve) => {
      let seen = "";
      child.stdout?.on("data", (d: Buffer) => {
        seen += d.toString("utf8");
        const nl = seen.indexOf("\n");
        if (nl >= 0) resolve(seen.slice(0, nl));
      });
    });
    const { listening } = JSON.parse(first) as { listening: string };
    expect(listening).toMatch(/^tcp:127\.0\.0\.1:[1-9]\d*$/);
    const sent = await mrc([
      "send",
      "--block",
      `r=${image}`,
      "--multifd-channels",
      "1",
      "--to",
      listening,
      "--json",
    ]);
    expect(sent.exitCode).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ address: listening, packets: 7, main: { flushes: 3 } });
    const got = await child;
    expect(got.exitCode).toBe(0);
    const result = JSON.parse(String(got.stdout).split("\n")[1] as string);
    expect(result).toMatchObject({
      format: "mapped-ram",
      packets: 7,
      blocks: [{ idstr: "r", usedLength: "0x200000" }],
    });
    expect(await readdir(work)).toContain("b.mig");
  });

  it("receive ends a broken migration with exit 1, one line naming channel, packet and field, and no output", async () => {
    const rx = receive([
      "--listen",
      `unix:${join(work, "c.sock")}`,
      "--multifd-channels",
      "2",
      "-o",
      join(work, "c"),
    ]);
    children.push(rx.child);
    const to = await rx.address;
    const m = fakeMigration([{ idstr: "r", image: ram }], 2, "multifd");
    // packet 1 of channel 1 (its first RAM packet, at 64 + 1344 = 0x580) gets normal_pages (+16) 200 > 128
    const p = m.channels[1]?.packets[1];
    if (!p) throw new Error("no such packet");
    new DataView(p.header.buffer).setUint32(16, 200, false);
    await playFake(m, { path: to.slice("unix:".length) }, [0, 1, 2]);
    const got = await rx.child;
    expect(got.exitCode).toBe(1);
    expect(String(got.stderr)).toBe(
      "mrc: ERR_INVALID_VALUE @0x590: cannot decode multifd channel 1 packet 1 at offset 0x590: normal_pages must be at most pages_alloc 128. Received 200",
    );
    expect(await readdir(join(work, "c"))).toEqual([]);
  });

  it("send to a socket nobody listens on exits 2 with ERR_IO; bad options exit 2", async () => {
    const r = await mrc([
      "send",
      "--block",
      `r=${image}`,
      "--multifd-channels",
      "1",
      "--to",
      `unix:${join(work, "none.sock")}`,
    ]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^mrc: ERR_IO: cannot decode main channel to unix:.*none\.sock: ENOENT/);
    const bad = await mrc([
      "send",
      "--block",
      `r=${image}`,
      "--multifd-channels",
      "0",
      "--to",
      "tcp:127.0.0.1:1",
    ]);
    expect(bad.exitCode).toBe(2);
    const addr = await mrc([
      "receive",
      "--listen",
      "udp:1",
      "--multifd-channels",
      "1",
      "-o",
      join(work, "d"),
    ]);
    expect(addr.exitCode).toBe(2);
    expect(addr.stderr).toMatch(
      /^mrc: ERR_BAD_ARGUMENT: cannot decode migration address: must start with tcp: or unix:/,
    );
  });
});

describeQemu("mrc send into QEMU 10.0.2 (CLI)", () => {
  it("mrc send --block r=IMAGE --multifd-channels 4 --to tcp:127.0.0.1:PORT completes and QEMU's RAM is the image", async () => {
    const work = await mkdtemp(join(tmpdir(), "mrc-multifd-cliq-"));
    try {
      const ram = patternImage(512);
      const image = join(work, "ram.img");
      const dest = join(work, "dest.img");
      await writeFile(image, ram);
      await writeFile(dest, new Uint8Array(ram.length));
      const value = await migrateIntoQemu(
        { dest, size: ram.length, channels: 4, listen: "tcp:127.0.0.1:0", timeoutMs: LIMIT_MS },
        (to) => mrc(["send", "--block", `r=${image}`, "--multifd-channels", "4", "--to", to], LIMIT_MS),
      );
      expect(value.sent.exitCode).toBe(0);
      expect(value.done.status).toBe("completed");
      expect(Buffer.from(await readFile(dest)).equals(ram)).toBe(true);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
