// libvirt 11.x "sparse" save images, end to end with the real client (../shared/spec/libvirt-sparse.md):
// a small TCG domain is suspended, its RAM dumped with pmemsave, then saved by `virsh save` sparse with 1
// and 2 channels and raw. Each image: `mrc verify --strict` passes (sparse), `mrc extract` gives the RAM
// that was dumped, `mrc reencode` is byte-identical, and `virsh restore` of our re-encoded image brings
// the domain back paused (it was saved paused).
import { chmod, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, expect, it } from "vitest";
import { mrc } from "../helpers/cli.js";
import { describeLibvirt, virsh, virshOk } from "../helpers/libvirt.js";

const MIB = 64;
const NAME = `mrc-libvirt-${process.pid}`;
const XML = `<domain type='qemu'>
  <name>${NAME}</name>
  <memory unit='MiB'>${MIB}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <serial type='null'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
  // pmemsave runs as the libvirt-qemu user: it must be able to write here
  await chmod(dir.path, 0o777);
});
afterAll(async () => {
  await dir.cleanup();
});

/** Pages differ outside the 0xa0000-0xfffff window (shadowed by ROM/MMIO in guest-physical space). */
function differingPages(ram: Uint8Array, dump: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p < dump.length / 4096; p++) {
    if (p >= 0xa0 && p < 0x100) continue;
    const a = ram.subarray(p * 4096, (p + 1) * 4096);
    const b = dump.subarray(p * 4096, (p + 1) * 4096);
    if (Buffer.compare(a, b) !== 0) out.push(p);
  }
  return out;
}

describeLibvirt("libvirt save images from virsh save (sparse 1/2 channels, raw)", (daemons) => {
  it("verifies, extracts, re-encodes byte for byte and restores", async () => {
    const xml = join(dir.path, "dom.xml");
    await import("node:fs/promises").then((fs) => fs.writeFile(xml, XML));
    daemons.track(NAME);
    await virshOk(["define", xml]);
    await virshOk(["start", NAME]);
    await virshOk(["suspend", NAME]);
    const dump = join(dir.path, "ram.dump");
    // HMP parses a bare path as an expression: quote it
    await virshOk(["qemu-monitor-command", NAME, "--hmp", `pmemsave 0 ${MIB * 1024 * 1024} "${dump}"`]);
    const dumped = new Uint8Array(await readFile(dump));
    expect(dumped.length).toBe(MIB * 1024 * 1024);

    const images: Array<[string, string[], boolean]> = [
      ["sparse-1", ["--image-format", "sparse"], true],
      ["sparse-2", ["--image-format", "sparse", "--parallel-channels", "2"], true],
      ["raw", [], false],
    ];
    for (const [name, args, sparse] of images) {
      const img = join(dir.path, `${name}.img`);
      await virshOk(["save", NAME, img, ...args]);
      // the domain is off now; bring it back paused with the same RAM for the next save
      await virshOk(["restore", img, "--paused"]);

      if (sparse) {
        const v = await mrc(["verify", img, "--strict"]);
        expect(v.stdout + v.stderr, name).toMatch(/0 fail, 0 nonstrict/);
        expect(v.exitCode, name).toBe(0);
      }
      const out = join(dir.path, `${name}.out`);
      const x = await mrc(["extract", img, "-o", out]);
      expect(x.stderr, name).toBe("");
      expect(x.exitCode, name).toBe(0);
      const ram = new Uint8Array(await readFile(join(out, "pc.ram.bin")));
      expect(ram.length).toBe(dumped.length);
      expect(differingPages(ram, dumped), name).toEqual([]);
      for (const rom of ["pc.bios.bin", "pc.rom.bin"])
        expect((await stat(join(out, rom))).size).toBeGreaterThan(0);

      const re = join(dir.path, `${name}.re.img`);
      const r = await mrc(["reencode", img, "-o", re]);
      expect(r.stderr, name).toBe("");
      expect(r.exitCode, name).toBe(0);
      expect(Buffer.compare(await readFile(re), await readFile(img)), name).toBe(0);

      if (sparse) {
        // libvirt restores our re-encoded image: the domain comes back paused, as it was saved
        await virshOk(["destroy", NAME]);
        await virshOk(["restore", re, "--parallel-channels", args.includes("2") ? "2" : "1"]);
        expect((await virshOk(["domstate", NAME])).trim()).toBe("paused");
      }
    }
    const state = await virsh(["domstate", NAME]);
    expect(state.stdout.trim()).toBe("paused");
  }, 300_000);
});
