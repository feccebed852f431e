// Outputs as a user relies on them (the built CLI): save, extract, receive and reencode write under a temp
// name in the target directory and rename only on success; an existing target is not replaced without
// --force (with --offset N the bytes before N of an existing target are kept, as QEMU keeps them); a
// refused or failed extract/receive leaves no block file; inputs are never modified.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mrc } from "../helpers/cli.js";
import { denseImage, LIMIT_MS, receiveInBackground, sha256 } from "./helpers.js";

let work: string;
let image: string;
let image2: string;
let mig: string;
const hashes = new Map<string, string>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "mrc-outputs-"));
  image = join(work, "ram.img");
  image2 = join(work, "rom.img");
  await writeFile(image, denseImage(40));
  await writeFile(image2, denseImage(3, 7));
  mig = join(work, "in.mig");
  const r = await mrc(["save", "--block", `r=${image}`, "--block", `pc.rom=${image2}`, "-o", mig]);
  expect(r.stderr).toBe("");
  for (const f of [image, image2, mig]) hashes.set(f, await sha256(f));
});
afterAll(async () => {
  // inputs are never modified, whatever ran
  for (const [f, h] of hashes) expect(await sha256(f), f).toBe(h);
  await rm(work, { recursive: true, force: true });
});

const ALREADY = /^mrc: ERR_IO: cannot write output "[^"]+": already exists \(use --force to replace it\)$/;

describe("mrc save", () => {
  it("does not replace an existing target without --force, and leaves no temp file", async () => {
    const dir = join(work, "save1");
    await mkdir(dir);
    const target = join(dir, "vm.mig");
    await writeFile(target, "precious");
    const r = await mrc(["save", "--block", `r=${image}`, "-o", target]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(ALREADY);
    expect(await readFile(target, "utf8")).toBe("precious");
    expect(await readdir(dir)).toEqual(["vm.mig"]);
  });

  it("replaces it with --force; with --offset N the first N bytes of the old target are kept", async () => {
    const dir = join(work, "save2");
    await mkdir(dir);
    const fresh = join(dir, "fresh.mig");
    const target = join(dir, "vm.mig");
    // what a save at 0x1000 writes after the offset, from a save into a new file
    expect((await mrc(["save", "--block", `r=${image}`, "--offset", "0x1000", "-o", fresh])).exitCode).toBe(
      0,
    );
    // an existing target: 0x1000 bytes of 'X' that must survive, then a tail that must go
    await writeFile(target, Buffer.concat([Buffer.alloc(0x1000, 0x58), Buffer.alloc(0x3000, 0x59)]));
    const r = await mrc(["save", "--block", `r=${image}`, "--offset", "0x1000", "-o", target, "--force"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const got = await readFile(target);
    const want = await readFile(fresh);
    expect(got.length).toBe(want.length);
    expect(got.subarray(0, 0x1000).equals(Buffer.alloc(0x1000, 0x58))).toBe(true);
    expect(got.subarray(0x1000).equals(want.subarray(0x1000))).toBe(true);
    // a new file gets a zero (hole) prefix
    expect(want.subarray(0, 0x1000).equals(Buffer.alloc(0x1000))).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(["fresh.mig", "vm.mig"]);
  });

  // Its temp name was ".<name>.mrc-<pid>.tmp": over NAME_MAX for a target name of 240+ bytes (ENAMETOOLONG).
  it("writes a target whose name is NAME_MAX long (the temp name is cut to fit)", async () => {
    const dir = join(work, "save-long");
    await mkdir(dir);
    const name = `${"v".repeat(251)}.mig`;
    const r = await mrc(["save", "--block", `r=${image}`, "-o", join(dir, name)]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(await readdir(dir)).toEqual([name]);
    const again = await mrc(["reencode", join(dir, name), "-o", join(dir, `${"w".repeat(251)}.mig`)]);
    expect(again.stderr).toBe("");
    expect(again.exitCode).toBe(0);
  });

  it("a failed save (an image that is not a whole number of pages) leaves nothing", async () => {
    const dir = join(work, "save3");
    await mkdir(dir);
    const bad = join(work, "odd.img");
    await writeFile(bad, new Uint8Array(4097));
    const r = await mrc(["save", "--block", `r=${image}`, "--block", `x=${bad}`, "-o", join(dir, "vm.mig")]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^mrc: ERR_BAD_ARGUMENT: cannot decode RAM image/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("mrc extract", () => {
  it("refuses to replace an existing block file without --force and writes no other block file", async () => {
    const dir = join(work, "x1");
    await mkdir(dir);
    await writeFile(join(dir, "pc.rom.bin"), "precious");
    const r = await mrc(["extract", mig, "-o", dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(ALREADY);
    // r.bin would be new, but the extract as a whole was refused: nothing of it is there
    expect(await readdir(dir)).toEqual(["pc.rom.bin"]);
    expect(await readFile(join(dir, "pc.rom.bin"), "utf8")).toBe("precious");
    const forced = await mrc(["extract", mig, "-o", dir, "--force"]);
    expect(forced.exitCode).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(["pc.rom.bin", "r.bin"]);
    expect((await readFile(join(dir, "pc.rom.bin"))).equals(Buffer.from(denseImage(3, 7)))).toBe(true);
  });

  it("a refused file (a cut page array) leaves the output directory without any block file", async () => {
    const dir = join(work, "x2");
    const cut = join(work, "cut.mig");
    const bytes = await readFile(mig);
    // the first block's page array starts at 1 MiB; cut inside it
    await writeFile(cut, bytes.subarray(0, 0x100000 + 5 * 4096 + 17));
    const r = await mrc(["extract", cut, "-o", dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^mrc: ERR_TRUNCATED @0x[0-9a-f]+: cannot decode /);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("mrc reencode", () => {
  it("does not replace an existing output without --force; with --force it does; no temp is left", async () => {
    const dir = join(work, "re");
    await mkdir(dir);
    const out = join(dir, "again.mig");
    await writeFile(out, "precious");
    const r = await mrc(["reencode", mig, "-o", out]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(ALREADY);
    expect(await readFile(out, "utf8")).toBe("precious");
    const forced = await mrc(["reencode", mig, "-o", out, "--force"]);
    expect(forced.stderr).toBe("");
    expect(forced.exitCode).toBe(0);
    expect(await sha256(out)).toBe(hashes.get(mig));
    expect(await readdir(dir)).toEqual(["again.mig"]);
  });
});

describe("mrc receive", () => {
  it("refuses an existing .mig target before listening, and leaves it alone", async () => {
    const dir = join(work, "rx1");
    await mkdir(dir);
    const out = join(dir, "vm.mig");
    await writeFile(out, "precious");
    const r = await mrc(
      ["receive", "--listen", `unix:${join(dir, "s.sock")}`, "--multifd-channels", "1", "-o", out],
      LIMIT_MS,
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(ALREADY);
    expect(await readFile(out, "utf8")).toBe("precious");
  });

  it("refuses to replace an existing block file: no block file of the migration is left, the old one is kept", async () => {
    const dir = join(work, "rx2");
    await mkdir(dir);
    await writeFile(join(dir, "pc.rom.bin"), "precious");
    const rx = receiveInBackground([
      "--listen",
      `unix:${join(work, "rx2.sock")}`,
      "--multifd-channels",
      "2",
      "-o",
      dir,
    ]);
    const to = await rx.address;
    const sent = await mrc(
      ["send", "--block", `r=${image}`, "--block", `pc.rom=${image2}`, "--multifd-channels", "2", "--to", to],
      LIMIT_MS,
    );
    const got = await rx.child;
    expect(got.exitCode).toBe(2);
    expect(String(got.stderr)).toMatch(ALREADY);
    // (the source may well have written everything before the destination gave up: like a QEMU source
    // without a return path it then ends 0)
    expect([0, 2]).toContain(sent.exitCode);
    expect(await readdir(dir)).toEqual(["pc.rom.bin"]);
    expect(await readFile(join(dir, "pc.rom.bin"), "utf8")).toBe("precious");
  });

  it("a migration cut short leaves no output that looks complete", async () => {
    const dir = join(work, "rx3");
    const rx = receiveInBackground([
      "--listen",
      `unix:${join(work, "rx3.sock")}`,
      "--multifd-channels",
      "3",
      "-o",
      join(dir, "vm.mig"),
      "--idle-timeout",
      "3000",
    ]);
    const to = await rx.address;
    // one channel fewer than the destination waits for: it gives up when nothing more arrives
    const sent = await mrc(
      ["send", "--block", `r=${image}`, "--multifd-channels", "2", "--to", to],
      LIMIT_MS,
    );
    const got = await rx.child;
    expect(got.exitCode).not.toBe(0);
    expect(String(got.stderr)).toMatch(/^mrc: ERR_[A-Z_]+( @0x[0-9a-f]+)?: cannot decode /);
    expect([0, 2]).toContain(sent.exitCode);
    expect(await readdir(dir)).toEqual([]);
  });
});
