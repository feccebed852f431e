// The VMState walker (src/impl/vmstate) on hand-made vmdesc entries and payload bytes. Descriptions follow
// the shapes migration/vmstate.c writes (vmsd_desc_field_start/_end, vmstate_subsection_save); payloads
// are written out by hand from the put functions of migration/vmstate-types.c.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { devicePayloadLength, walkDevicePayload } from "../../src/impl/devices.js";
import { MemorySource } from "../../src/impl/source.js";
import type { VmdescDevice } from "../../src/impl/vmdesc.js";
import {
  encodeVmState,
  NeedMoreBytes,
  type VmStruct,
  vmStructToJson,
  walkVmState,
} from "../../src/impl/vmstate/index.js";
import { fcParams } from "../helpers/fc.js";

const bytes = (s: string) =>
  Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (h) => Number.parseInt(h, 16));
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");

function dev(fields: unknown[], subsections?: unknown[], name = "dev"): VmdescDevice {
  return {
    name,
    instance_id: 0,
    vmsd_name: name,
    version: 1,
    fields,
    ...(subsections ? { subsections } : {}),
  } as VmdescDevice;
}

/** walk with the whole payload in view, check it round-trips, return the walk */
function walkAll(desc: VmdescDevice, payload: Uint8Array, base = 0x1000n) {
  const w = walkVmState(desc, payload, base, true);
  expect(w.problems).toEqual([]);
  expect(w.length).toBe(payload.length);
  expect(encodeVmState(w.root)).toEqual(payload);
  return w;
}

describe("VMState walker: scalar fields", () => {
  it("decodes every integer width big endian, signed and unsigned, and bool", () => {
    const desc = dev([
      { name: "a", type: "uint8", size: 1 },
      { name: "b", type: "int8", size: 1 },
      { name: "c", type: "uint16", size: 2 },
      { name: "d", type: "int16", size: 2 },
      { name: "e", type: "uint32", size: 4 },
      { name: "f", type: "int32", size: 4 },
      { name: "g", type: "uint64", size: 8 },
      { name: "h", type: "int64", size: 8 },
      { name: "i", type: "bool", size: 1 },
      { name: "j", type: "int32 equal", size: 4 },
      { name: "k", type: "timer", size: 8 },
    ]);
    const payload = bytes(
      "fe ff 1234 8000 89abcdef ffffffff 0102030405060708 fffffffffffffffe 01 00000010 ffffffffffffffff",
    );
    const w = walkAll(desc, payload);
    expect(vmStructToJson(w.root)).toEqual({
      a: 0xfe,
      b: -1,
      c: 0x1234,
      d: -32768,
      e: 0x89abcdef,
      f: -1,
      g: "0x102030405060708",
      h: "-0x2",
      i: true,
      j: 16,
      k: "-0x1",
    });
    expect(w.root.fields.map((f) => [f.name, f.offset, f.length])).toEqual([
      ["a", 0x1000n, 1],
      ["b", 0x1001n, 1],
      ["c", 0x1002n, 2],
      ["d", 0x1004n, 2],
      ["e", 0x1006n, 4],
      ["f", 0x100an, 4],
      ["g", 0x100en, 8],
      ["h", 0x1016n, 8],
      ["i", 0x101en, 1],
      ["j", 0x101fn, 4],
      ["k", 0x1023n, 8],
    ]);
  });

  it("keeps buffers, unused buffers and unknown types as their vmdesc size of bytes", () => {
    const desc = dev([
      { name: "runstate", type: "buffer", size: 4 },
      { name: "unused", type: "unused_buffer", size: 3 },
      { name: "config", type: "pci config", size: 2 },
      { name: "irq_state", type: "pci irq state", size: 2 },
      { name: "x", type: "something new", size: 1 },
    ]);
    const w = walkAll(desc, bytes(`${ascii("prel")} 000000 aabb ccdd ee`));
    expect(vmStructToJson(w.root)).toEqual({
      runstate: "7072656c",
      unused: "000000",
      config: "aabb",
      irq_state: "ccdd",
      x: "ee",
    });
  });

  it("takes an integer whose vmdesc size is not its width as bytes, and says so", () => {
    const w = walkVmState(dev([{ name: "odd", type: "uint16", size: 3 }]), bytes("010203"), 0n, true);
    expect(w.length).toBe(3);
    expect(w.problems).toHaveLength(1);
    expect(w.problems[0]?.fatal).toBe(false);
    expect(w.problems[0]?.message).toMatch(/^type "uint16" has vmdesc size 3, not 2/);
  });
});

describe("VMState walker: arrays", () => {
  it("expands a compressed array (array_len) from its first element", () => {
    const w = walkAll(
      dev([{ name: "irq_count", array_len: 3, type: "int32", size: 4 }]),
      bytes("00000001 00000002 ffffffff"),
    );
    expect(vmStructToJson(w.root)).toEqual({ irq_count: [1, 2, -1] });
    expect(w.root.fields.map((f) => f.index)).toEqual([0, 1, 2]);
  });

  it("walks each element of a compressed struct array with the first element's description", () => {
    const timer = {
      vmsd_name: "hpet_timer",
      version: 1,
      fields: [
        { name: "tn", type: "uint8", size: 1 },
        { name: "cmp", type: "uint64", size: 8 },
      ],
    };
    const desc = dev([{ name: "timer", array_len: 2, type: "struct", struct: timer, size: 9 }]);
    const w = walkAll(desc, bytes("00 ffffffffffffffff 01 0000000000000010"));
    expect(vmStructToJson(w.root)).toEqual({
      timer: [
        { tn: 0, cmp: "0xffffffffffffffff" },
        { tn: 1, cmp: "0x10" },
      ],
    });
  });

  it('groups "index" elements, also the last one that QEMU 10.0.2 writes without an index', () => {
    const st = { vmsd_name: "ide_bus", version: 1, fields: [{ name: "cmd", type: "uint8", size: 1 }] };
    const desc = dev([
      { name: "bus", index: 0, type: "struct", struct: st, size: 1 },
      { name: "bus", type: "struct", struct: st, size: 1 },
      { name: "after", type: "uint8", size: 1 },
    ]);
    const w = walkAll(desc, bytes("0a 0b 0c"));
    expect(vmStructToJson(w.root)).toEqual({ bus: [{ cmd: 10 }, { cmd: 11 }], after: 12 });
  });

  it("reads capabilities as u8 length + name, the vmdesc size being the first one's", () => {
    // spec section 3: "capabilities" with array_len 2 and size 16 = 1 + len("x-ignore-shared")
    const desc = dev([
      { name: "caps_count", type: "uint32", size: 4 },
      { name: "capabilities", array_len: 2, type: "capability", size: 16 },
    ]);
    const w = walkAll(desc, bytes(`00000002 0f ${ascii("x-ignore-shared")} 0a ${ascii("mapped-ram")}`));
    expect(vmStructToJson(w.root)).toEqual({
      caps_count: 2,
      capabilities: ["x-ignore-shared", "mapped-ram"],
    });
  });

  it("reads NULL elements of arrays of pointers as the '0' marker", () => {
    const w = walkAll(dev([{ name: "p", array_len: 2, type: "nullptr", size: 1 }]), bytes("30 30"));
    expect(vmStructToJson(w.root)).toEqual({ p: [null, null] });
    const bad = walkVmState(dev([{ name: "p", type: "nullptr", size: 1 }]), bytes("31"), 0x20n, true);
    expect(bad.length).toBe(1);
    expect(bad.problems[0]).toMatchObject({ offset: 0x20n, fatal: false });
    expect(bad.problems[0]?.message).toMatch(/^NULL pointer marker is 0x31/);
  });
});

describe("VMState walker: nested descriptions and subsections", () => {
  it("walks VMSTATE_WITH_TMP fields, whose vmsd is described inside the field object", () => {
    // cpu's env.fpregs: {"name": "tmp", "type": "tmp", "vmsd_name": "fpreg_tmp", "version": 0, "fields": [...], "size": 10}
    const desc = dev([
      {
        name: "tmp",
        type: "tmp",
        vmsd_name: "fpreg_tmp",
        version: 0,
        fields: [
          { name: "tmp_mant", type: "uint64", size: 8 },
          { name: "tmp_exp", type: "uint16", size: 2 },
        ],
        size: 10,
      },
    ]);
    const w = walkAll(desc, bytes("8000000000000000 3fff"));
    expect(vmStructToJson(w.root)).toEqual({ tmp: { tmp_mant: "0x8000000000000000", tmp_exp: 0x3fff } });
  });

  it("reads subsections (05, u8 len, name, be32 version), also inside structs", () => {
    const inner = {
      vmsd_name: "ide_drive",
      version: 3,
      fields: [{ name: "status", type: "uint8", size: 1 }],
      subsections: [
        {
          vmsd_name: "ide_drive/pio_state",
          version: 1,
          fields: [{ name: "req_nb_sectors", type: "int32", size: 4 }],
        },
      ],
    };
    const desc = dev(
      [{ name: "ifs", type: "struct", struct: inner, size: 1 + 1 + 1 + 19 + 4 + 4 }],
      [{ vmsd_name: "fw_cfg/dma", version: 0, fields: [{ name: "dma_addr", type: "uint64", size: 8 }] }],
      "fw_cfg",
    );
    const payload = bytes(
      `50 05 13 ${ascii("ide_drive/pio_state")} 00000001 00000007 05 0a ${ascii("fw_cfg/dma")} 00000000 00000000000000ff`,
    );
    const w = walkAll(desc, payload, 0n);
    expect(vmStructToJson(w.root)).toEqual({
      ifs: { status: 0x50, "ide_drive/pio_state": { req_nb_sectors: 7 } },
      "fw_cfg/dma": { dma_addr: "0xff" },
    });
    expect(w.root.subsections[0]).toMatchObject({ name: "fw_cfg/dma", version: 0, offset: 30n });
  });

  it("reads qtailq/qlist elements (01 + element … 00) with the element vmsd described in the field", () => {
    const desc = dev([
      {
        name: "queue",
        type: "qtailq",
        vmsd_name: "elem",
        version: 1,
        fields: [{ name: "v", type: "uint16", size: 2 }],
        size: 7,
      },
    ]);
    const w = walkAll(desc, bytes("01 0001 01 0002 00"));
    expect(vmStructToJson(w.root)).toEqual({ queue: [{ v: 1 }, { v: 2 }] });
  });

  it("reports a subsection the vmdesc lists but the stream lacks as fatal, with its offset", () => {
    const desc = dev(
      [{ name: "a", type: "uint8", size: 1 }],
      [{ vmsd_name: "dev/sub", version: 1, fields: [] }],
    );
    const w = walkVmState(desc, bytes("00 7e 00000003"), 0x500n, true);
    expect(w.length).toBeUndefined();
    expect(w.problems).toEqual([
      {
        offset: 0x501n,
        path: "dev/dev/sub",
        message:
          'subsection "dev/sub" is in the vmdesc but the stream has 0x7e where QEMU_VM_SUBSECTION 0x5 must be',
        fatal: true,
      },
    ]);
  });

  it("reports a subsection of another name as fatal", () => {
    const desc = dev([], [{ vmsd_name: "dev/a", version: 1, fields: [] }]);
    const w = walkVmState(desc, bytes(`05 05 ${ascii("dev/b")} 00000001`), 0n, true);
    expect(w.length).toBeUndefined();
    expect(w.problems[0]?.message).toBe('subsection "dev/b" is in the stream where the vmdesc has "dev/a"');
  });

  it("keeps a struct as bytes when its walk disagrees with the size QEMU recorded for it", () => {
    const st = { vmsd_name: "s", version: 1, fields: [{ name: "x", type: "uint8", size: 1 }] };
    const w = walkVmState(
      dev([{ name: "s", type: "struct", struct: st, size: 2 }]),
      bytes("0102"),
      0x10n,
      true,
    );
    expect(w.length).toBe(2);
    expect(w.problems).toHaveLength(1);
    expect(w.problems[0]).toMatchObject({ offset: 0x10n, path: "dev.s", fatal: false });
    expect(w.problems[0]?.message).toMatch(/^walked 1 bytes where the vmdesc size is 2/);
    expect(encodeVmState(w.root)).toEqual(bytes("0102"));
  });
});

describe("VMState walker: windows and truncation", () => {
  const desc = dev([
    { name: "a", type: "uint32", size: 4 },
    { name: "b", type: "buffer", size: 6 },
  ]);

  it("asks for more bytes while the window is not the end of the file", () => {
    expect(() => walkVmState(desc, bytes("00000001 0203"), 0n, false)).toThrow(NeedMoreBytes);
  });

  it("reports a payload cut by the end of the file as fatal at the cut", () => {
    const w = walkVmState(desc, bytes("00000001 0203"), 0x40n, true);
    expect(w.length).toBeUndefined();
    expect(w.problems).toEqual([
      { offset: 0x44n, path: "dev.b", message: "needs 6 bytes but the file ends after 2", fatal: true },
    ]);
  });

  it("devicePayloadLength reads as much of the file as a payload needs", async () => {
    const big = 100_000;
    const d = dev(
      [
        { name: "vram", type: "buffer", size: big },
        { name: "z", type: "uint8", size: 1 },
      ],
      [],
      "vga",
    );
    const file = new Uint8Array(7 + big + 1 + 5);
    file[7 + big] = 0x42;
    const src = new MemorySource(file);
    const s = { sectionId: 9, idstr: "vga", instanceId: 0, versionId: 1 };
    const vmdesc = { page_size: 4096, devices: [d] };
    expect(await devicePayloadLength(src, 7n, s, vmdesc)).toBe(big + 1);
    const w = await walkDevicePayload(src, 7n, s, vmdesc);
    expect(w.root?.fields[1]?.value).toMatchObject({ kind: "int", value: 0x42n });
  });

  it("devicePayloadLength throws ERR_UNDECODABLE at the offset of what it cannot walk", async () => {
    const d = dev(
      [{ name: "a", type: "uint8", size: 1 }],
      [{ vmsd_name: "x/y", version: 1, fields: [] }],
      "x",
    );
    const src = new MemorySource(bytes("ffff 00 7e 00000009"));
    const s = { sectionId: 9, idstr: "x", instanceId: 0, versionId: 1 };
    await expect(devicePayloadLength(src, 2n, s, { page_size: 4096, devices: [d] })).rejects.toMatchObject({
      code: "ERR_UNDECODABLE",
      offset: 3n,
    });
    await expect(devicePayloadLength(src, 2n, { ...s, idstr: "other" }, undefined)).rejects.toMatchObject({
      code: "ERR_UNDECODABLE",
      offset: 2n,
      message: expect.stringMatching(/^cannot decode device section "other" instance 0 at offset 0x2: /),
    });
  });

  it("devicePayloadLength knows the -M none devices without a vmdesc", async () => {
    const src = new MemorySource(new Uint8Array(200));
    expect(
      await devicePayloadLength(
        src,
        0n,
        { sectionId: 0, idstr: "timer", instanceId: 0, versionId: 2 },
        undefined,
      ),
    ).toBe(24);
    expect(
      await devicePayloadLength(
        src,
        0n,
        { sectionId: 3, idstr: "globalstate", instanceId: 0, versionId: 1 },
        undefined,
      ),
    ).toBe(104);
  });
});

describe("VMState walker: properties", () => {
  // A description with every structural kind; any payload that is long enough decodes to exactly the
  // described length and encodes back to the same bytes.
  const desc = dev(
    [
      { name: "n", type: "uint16", size: 2 },
      { name: "arr", array_len: 3, type: "int32", size: 4 },
      {
        name: "s",
        array_len: 2,
        type: "struct",
        struct: {
          vmsd_name: "s",
          version: 1,
          fields: [
            { name: "a", type: "uint64", size: 8 },
            { name: "b", type: "bool", size: 1 },
          ],
        },
        size: 9,
      },
      { name: "raw", type: "buffer", size: 5 },
    ],
    [],
  );
  const fixedLength = 2 + 12 + 18 + 5;

  it("decodes any long enough payload to its described length and encodes it back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: fixedLength, maxLength: fixedLength + 16 }), (payload) => {
        const w = walkVmState(desc, payload, 0n, true);
        expect(w.problems).toEqual([]);
        expect(w.length).toBe(fixedLength);
        expect(encodeVmState(w.root)).toEqual(payload.subarray(0, fixedLength));
      }),
      fcParams(200),
    );
  });

  it("never throws on arbitrary bytes against a description with subsections and lists", () => {
    const withSubs = dev(
      [
        {
          name: "q",
          type: "qlist",
          vmsd_name: "e",
          version: 1,
          fields: [{ name: "v", type: "uint8", size: 1 }],
          size: 3,
        },
        { name: "c", array_len: 2, type: "capability", size: 3 },
      ],
      [{ vmsd_name: "dev/sub", version: 2, fields: [{ name: "z", type: "uint32", size: 4 }] }],
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (payload) => {
        const w = walkVmState(withSubs, payload, 0n, true);
        if (w.length !== undefined) {
          expect(encodeVmState(w.root as VmStruct)).toEqual(payload.subarray(0, w.length));
        } else {
          expect(w.problems.some((p) => p.fatal)).toBe(true);
        }
      }),
      fcParams(300),
    );
  });
});

describe("VMState walker: hostile descriptions", () => {
  it("stops at an absurd array_len of empty structs instead of looping", () => {
    const empty = { vmsd_name: "e", version: 1, fields: [] };
    const w = walkVmState(
      dev([{ name: "e", array_len: 1e9, type: "struct", struct: empty, size: 0 }]),
      bytes(""),
      0n,
      true,
    );
    expect(w.length).toBeUndefined();
    expect(w.problems[0]?.message).toMatch(
      /^has array_len 1000000000, more than the \d+ elements walked at most/,
    );
  });

  it("stops at structs nested deeper than any vmsd (keeping the bytes QEMU recorded)", () => {
    let desc: Record<string, unknown> = { vmsd_name: "leaf", version: 1, fields: [] };
    for (let i = 0; i < 100; i++) {
      desc = {
        vmsd_name: `n${i}`,
        version: 1,
        fields: [{ name: "s", type: "struct", struct: desc, size: 0 }],
      };
    }
    const w = walkVmState({ name: "deep", ...desc } as unknown as VmdescDevice, bytes(""), 0n, true);
    expect(w.length).toBe(0);
    expect(w.problems).toHaveLength(1);
    expect(w.problems[0]?.message).toMatch(
      /^nests deeper than 64 structs; kept 0 bytes of "struct" as written/,
    );
  });
});
