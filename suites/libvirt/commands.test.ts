// Every command that takes a migration file finds the stream of a libvirt save image by itself
// (no --offset): inspect shows the header, the domain name/memory and the cookie; verify, extract,
// diff, layout and reencode work on it. Images are built like libvirt builds them (./image.ts).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeMigrationFile } from "../../src/impl/save.js";
import { mrc } from "../helpers/cli.js";
import { makeImage } from "../helpers/images.js";
import { COOKIE, writeLibvirtImage } from "./image.js";

let dir: { path: string; cleanup(): Promise<void> };
let img: string;
let plain: string;
let partial: string;
let streamAt: bigint;
beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
  const ram = join(dir.path, "ram.img");
  await writeFile(ram, makeImage("spec8", 512));
  img = join(dir.path, "sparse.img");
  streamAt = await writeLibvirtImage(img, ram);
  partial = join(dir.path, "partial.img");
  await writeLibvirtImage(partial, ram, { magic: "LibvirtQemudPart" });
  plain = join(dir.path, "plain.mig");
  await writeMigrationFile({ path: plain, blocks: [{ idstr: "pc.ram", image: ram }], multifdChannels: 1 });
});
afterAll(async () => {
  await dir.cleanup();
});

describe("libvirt images through the CLI, without --offset", () => {
  it("inspect shows the header, the domain and the cookie", async () => {
    const r = await mrc(["inspect", img, "--json"]);
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.libvirt).toMatchObject({
      magic: "LibvirtQemudSave",
      complete: true,
      version: 2,
      format: 6,
      formatName: "sparse",
      wasRunning: 1,
      domainName: "sparseprobe",
      memory: { value: 131072, unit: "KiB" },
      cookie: COOKIE,
    });
    expect(j.streamOffset).toBe(`0x${streamAt.toString(16)}`);
    const human = await mrc(["inspect", img]);
    expect(human.stdout).toContain(
      "libvirt save image: magic LibvirtQemudSave, version 2, format 6 (sparse)",
    );
    expect(human.stdout).toContain("domain sparseprobe, memory 131072 KiB");
  });
  it("verify --strict passes; an incomplete image fails with libvirt.magic.incomplete", async () => {
    expect((await mrc(["verify", img, "--strict"])).exitCode).toBe(0);
    const bad = await mrc(["verify", partial]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain("fail libvirt.magic.incomplete at 0x0: ");
  });
  it("extract refuses an incomplete image and writes nothing", async () => {
    const r = await mrc(["extract", partial, "-o", join(dir.path, "px")]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /^mrc: ERR_INVALID_VALUE @0x0: cannot decode libvirt save image at offset 0x0: magic is LibvirtQemudPart/,
    );
  });
  it("diff: the image equals the plain file with the same RAM (offsets differ, meaning does not)", async () => {
    const r = await mrc(["diff", img, plain]);
    expect(r.stdout).toContain("result: equal");
    expect(r.exitCode).toBe(0);
  });
  it("layout labels the stream start after the libvirt header", async () => {
    const svg = join(dir.path, "map.svg");
    const r = await mrc(["layout", img, "--svg", svg]);
    expect(r.exitCode).toBe(0);
    expect(await readFile(svg, "utf8")).toContain(`0x${streamAt.toString(16)}`);
  });
  it("reencode reproduces the image byte for byte, prefix included", async () => {
    const out = join(dir.path, "re.img");
    const r = await mrc(["reencode", img, "-o", out]);
    expect(r.exitCode).toBe(0);
    expect(Buffer.compare(await readFile(out), await readFile(img))).toBe(0);
  });
});
