// `reencode` without QEMU: an ordinary precopy stream written out by hand from the spec (sections 1.1-1.4,
// 2.1, 3) and mapped-ram files of live saves (stale data under clear bits, zero-page-detection none)
// must come back byte for byte. The QEMU-made pc/q35 files are in machines.test.ts.
import { open, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ByteWriter } from "../../src/impl/bytes.js";
import { MACHINE_NONE } from "../../src/impl/machine.js";
import { firstDifference, reencodeFile } from "../../src/impl/reencode.js";
import { FileSource } from "../../src/impl/source.js";
import { type SavePlan, saveMappedRam } from "../../src/impl/writer.js";
import type { ZeroPageDetection } from "../../src/impl/zero-page.js";
import { nativeModes, useNativeMode } from "../helpers/native-mode.js";

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
});
afterAll(async () => {
  await dir.cleanup();
});

const PAGE = 4096;
const TIMER_VMDESC =
  '{"page_size": 4096, "devices": [{"name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2, "fields": [{"name": "cpu_ticks_offset", "type": "int64", "size": 8}, {"name": "unused", "type": "unused_buffer", "size": 8}, {"name": "cpu_clock_offset", "type": "int64", "size": 8}]}]}';

/** An ordinary precopy stream for blocks "a" (2 pages) and "b" (1 page), bytes written out from the spec. */
function handMadePrecopy(): Uint8Array {
  const w = new ByteWriter();
  const str = (s: string) => w.u8(s.length).bytes(new TextEncoder().encode(s));
  w.u32be(0x5145564d).u32be(3);
  w.u8(0x07).u32be(4).bytes(new TextEncoder().encode("none"));
  // START "ram": MEM_SIZE, block list, EOS, footer
  w.u8(0x01).u32be(1);
  str("ram");
  w.u32be(0).u32be(4);
  w.u64be(0x3000n | 0x04n);
  str("a");
  w.u64be(0x2000n);
  str("b");
  w.u64be(0x1000n);
  w.u64be(0x10n).u8(0x7e).u32be(1);
  // PART: page a:0 (named), page a:1 (CONTINUE), zero page b:0 (named), MULTIFD_FLUSH, EOS
  w.u8(0x02).u32be(1);
  w.u64be(0x0000n | 0x08n);
  str("a");
  w.bytes(new Uint8Array(PAGE).fill(0x11));
  w.u64be(0x1000n | 0x08n | 0x20n).bytes(new Uint8Array(PAGE).fill(0x22));
  w.u64be(0x0000n | 0x02n);
  str("b");
  w.u8(0);
  w.u64be(0x200n);
  w.u64be(0x10n).u8(0x7e).u32be(1);
  // SWITCHOVER_START
  w.u8(0x08).u16be(0x0b).u16be(0);
  // END: zero page b:0 again (CONTINUE), page a:1 re-sent (named), EOS
  w.u8(0x03).u32be(1);
  w.u64be(0x0000n | 0x02n | 0x20n).u8(0);
  w.u64be(0x1000n | 0x08n);
  str("a");
  w.bytes(new Uint8Array(PAGE).fill(0x33));
  w.u64be(0x10n).u8(0x7e).u32be(1);
  // timer (id 0, v2): 24 bytes, footer
  w.u8(0x04).u32be(0);
  str("timer");
  w.u32be(0).u32be(2);
  w.u64be(0x1234n).zeros(8).u64be(0xfedcn);
  w.u8(0x7e).u32be(0);
  w.u8(0x00);
  w.u8(0x06).u32be(TIMER_VMDESC.length).bytes(new TextEncoder().encode(TIMER_VMDESC));
  return w.finish();
}

describe("reencode: ordinary precopy streams", () => {
  it("writes a hand-made stream back byte for byte, at offset 0 and after a kept prefix", async () => {
    const stream = handMadePrecopy();
    for (const offset of [0, 0x10]) {
      const input = join(dir.path, `pre-${offset}.mig`);
      const prefix = new Uint8Array(offset).fill(0x58);
      await writeFile(input, new Uint8Array([...prefix, ...stream]));
      const output = join(dir.path, `pre-${offset}.out`);
      const r = await reencodeFile(input, output, { offset: BigInt(offset) });
      expect(r).toMatchObject({ mode: "precopy", identical: true, devices: 1, vmdescFromValue: true });
      // runs: a:0-1 (page), b:0 (zero), flush | b:0 (zero), a:1 (page)
      expect(r.runs).toBe(5);
      expect(await readFile(output)).toEqual(await readFile(input));
    }
  });

  it("refuses to replace an existing output without force, and leaves no temp file", async () => {
    const input = join(dir.path, "pre-force.mig");
    await writeFile(input, handMadePrecopy());
    const output = join(dir.path, "pre-force.out");
    await writeFile(output, "keep");
    await expect(reencodeFile(input, output)).rejects.toMatchObject({ code: "ERR_IO" });
    expect(await readFile(output, "latin1")).toBe("keep");
    await reencodeFile(input, output, { force: true });
    expect(await readFile(output)).toEqual(await readFile(input));
  });

  it("reports bytes after the end of the stream with their offset", async () => {
    const input = join(dir.path, "pre-trailing.mig");
    const stream = handMadePrecopy();
    await writeFile(input, new Uint8Array([...stream, 0xee]));
    await expect(reencodeFile(input, join(dir.path, "pre-trailing.out"))).rejects.toMatchObject({
      code: "ERR_UNDECODABLE",
      offset: BigInt(stream.length),
      message: expect.stringMatching(
        /^cannot decode migration stream at offset 0x[0-9a-f]+: cannot be re-encoded: 1 bytes follow/,
      ),
    });
  });
});

/** A -M none plan over in-memory images. */
function plan(
  images: Record<string, Uint8Array>,
  zpd: ZeroPageDetection,
  extra: Partial<SavePlan> = {},
): SavePlan {
  const configuration = { machineName: "none", capabilities: ["mapped-ram"] };
  const devices = MACHINE_NONE.devices("prelaunch");
  return {
    offset: 0n,
    configuration,
    ramSection: MACHINE_NONE.ramSection,
    blocks: Object.entries(images).map(([idstr, img]) => ({
      idstr,
      usedLength: BigInt(img.length),
      image: {
        async readInto(offset: bigint, into: Uint8Array) {
          into.set(img.subarray(Number(offset), Number(offset) + into.length));
          return into.length;
        },
      },
    })),
    partSections: 2,
    switchoverStart: true,
    devices,
    vmdesc: null,
    zeroPageDetection: zpd,
    multifdChannels: null,
    ...extra,
  };
}

function image(pages: number, seed: number): Uint8Array {
  const img = new Uint8Array(pages * PAGE);
  for (let p = 0; p < pages; p++)
    if ((p + seed) % 3 !== 0) img.fill(((p * 7 + seed) % 250) + 1, p * PAGE, (p + 1) * PAGE);
  return img;
}

describe("reencode: mapped-ram files of live saves", () => {
  it("reproduces old page data under clear bits as a later round that finds those pages zero", async () => {
    const path = join(dir.path, "live.mig");
    const zero = new Uint8Array(PAGE);
    const rounds = [
      [
        { block: "big", page: 1, data: zero },
        { block: "big", page: 4, data: zero },
        { block: "small", page: 3, data: zero },
      ],
    ];
    const p = plan({ big: image(40, 0), small: image(5, 1) }, "multifd", { rounds });
    await saveMappedRam(path, p);
    const out = join(dir.path, "live.out");
    const r = await reencodeFile(path, out);
    expect(r).toMatchObject({
      mode: "mapped-ram",
      identical: true,
      stalePages: 3,
      zeroPageDetection: "multifd",
    });
    expect(await readFile(out)).toEqual(await readFile(path));
  });

  it("infers zero-page-detection none from set bits over zero pages", async () => {
    const path = join(dir.path, "none.mig");
    const p = plan({ r: image(20, 2) }, "none");
    await saveMappedRam(path, { ...p, offset: 0n });
    const r = await reencodeFile(path, join(dir.path, "none.out"));
    expect(r).toMatchObject({ identical: true, zeroPageDetection: "none", stalePages: 0 });
  });
});

/** Which asks the kernel for holes: the native helper, or python3 (MRC_NATIVE=0). */
const ASKERS = nativeModes("python3");

describe.each(ASKERS)("reencode: sparse page arrays of 64 MiB or more (holes not read; %s)", (asker) => {
  useNativeMode(asker);
  const PAGES = 18432; // 72 MiB

  /** Pages [4000, 12000) zero, the others named by their index. */
  function withZeroRange(): Uint8Array {
    const img = new Uint8Array(PAGES * PAGE);
    for (let p = 0; p < PAGES; p++)
      if (p < 4000 || p >= 12000) img.fill((p % 250) + 1, p * PAGE, (p + 1) * PAGE);
    return img;
  }

  it("a live save's file (zero pages are holes, stale data under clear bits) comes back byte for byte", async () => {
    const path = join(dir.path, `sparse-live-${asker}.mig`);
    const zero = new Uint8Array(PAGE);
    const rounds = [[3, 4500, 15000].map((page) => ({ block: "r", page, data: zero }))];
    await saveMappedRam(path, plan({ r: withZeroRange() }, "multifd", { rounds }));
    const out = join(dir.path, `sparse-live-${asker}.out`);
    const r = await reencodeFile(path, out);
    // page 4500 was zero already: only 3 and 15000 hold old data under a clear bit
    expect(r).toMatchObject({ identical: true, stalePages: 2, zeroPageDetection: "multifd" });
    expect(Buffer.compare(await readFile(out), await readFile(path))).toBe(0);
  });

  it("set bits over zero pages that are holes (punched in a zero-page-detection none file) still mean none", async () => {
    const path = join(dir.path, `sparse-none-${asker}.mig`);
    const saved = await saveMappedRam(path, plan({ r: withZeroRange() }, "none"));
    const pagesOffset = saved.blocks[0]?.pagesOffset ?? 0n;
    // every zero page of the file becomes a hole: only the holes say the set bits lie over zero pages
    await execa("fallocate", [
      "-p",
      "-o",
      String(pagesOffset + 4000n * 4096n),
      "-l",
      String(8000 * PAGE),
      path,
    ]);
    const r = await reencodeFile(path, join(dir.path, `sparse-none-${asker}.out`));
    expect(r).toMatchObject({ identical: true, zeroPageDetection: "none", stalePages: 0 });
  });
});

describe.each(ASKERS)("firstDifference of two files (%s)", (asker) => {
  useNativeMode(asker);
  /** A file of `size` bytes: `data` written at each offset, holes elsewhere. */
  async function sparseFile(name: string, size: number, data: Array<[number, Uint8Array]>): Promise<string> {
    const path = join(dir.path, name);
    await writeFile(path, new Uint8Array(0));
    await truncate(path, size);
    const fh = await open(path, "r+");
    try {
      for (const [at, bytes] of data) await fh.write(bytes, 0, bytes.length, at);
    } finally {
      await fh.close();
    }
    return path;
  }

  async function difference(a: string, b: string): Promise<bigint | undefined> {
    const x = await FileSource.open(a);
    const y = await FileSource.open(b);
    try {
      return await firstDifference(x, y);
    } finally {
      await x.close();
      await y.close();
    }
  }

  const MiB = 1024 * 1024;
  it("finds equal bytes equal however the holes lie, and a difference anywhere", async () => {
    const ones = new Uint8Array(4096).fill(1);
    // the same bytes: zeros written in one file where the other has a hole
    const a = await sparseFile(`a-${asker}`, 8 * MiB, [
      [0, ones],
      [3 * MiB, new Uint8Array(MiB)],
    ]);
    const b = await sparseFile(`b-${asker}`, 8 * MiB, [[0, ones]]);
    expect(await difference(a, b)).toBeUndefined();
    // a byte in a hole of the other file, and one where both hold data
    const c = await sparseFile(`c-${asker}`, 8 * MiB, [
      [0, ones],
      [5 * MiB + 7, Uint8Array.of(9)],
    ]);
    expect(await difference(a, c)).toBe(BigInt(5 * MiB + 7));
    const d = await sparseFile(`d-${asker}`, 8 * MiB, [[0, ones.slice().fill(2, 100)]]);
    expect(await difference(b, d)).toBe(100n);
    // sizes: the shorter one's size
    const e = await sparseFile(`e-${asker}`, 6 * MiB, [[0, ones]]);
    expect(await difference(b, e)).toBe(BigInt(6 * MiB));
  });
});

describe("writer: SavePlan.tail", () => {
  it("writes the same bytes as the fixed PART×K / SWITCHOVER / END / devices / EOF order", async () => {
    const base = plan({ r: image(12, 0) }, "multifd");
    const a = join(dir.path, "tail-a.mig");
    const b = join(dir.path, "tail-b.mig");
    await saveMappedRam(a, base);
    await saveMappedRam(b, {
      ...base,
      partSections: 0,
      switchoverStart: false,
      devices: [],
      tail: [
        { kind: "ram-part" },
        { kind: "ram-part" },
        { kind: "command", command: 0x0b, data: new Uint8Array(0) },
        { kind: "ram-end" },
        ...base.devices.map((d) => ({ kind: "device" as const, section: d.section, payload: d.payload })),
        { kind: "eof" },
      ],
    });
    expect(await readFile(b)).toEqual(await readFile(a));
  });

  it("refuses a tail without exactly one RAM END", async () => {
    const base = plan({ r: image(2, 0) }, "multifd", { tail: [{ kind: "eof" }] });
    await expect(saveMappedRam(join(dir.path, "tail-bad.mig"), base)).rejects.toMatchObject({
      code: "ERR_BAD_ARGUMENT",
    });
  });
});
