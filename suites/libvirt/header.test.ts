// libvirt save images: the header is recognised and the QEMU stream found at 0x5c + data_len without
// --offset; incomplete, compressed and broken images are refused with typed errors.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractBlocks } from "../../src/impl/extract.js";
import { readLibvirtHeader } from "../../src/impl/libvirt.js";
import { parseStream } from "../../src/impl/reader.js";
import { FileSource, MemorySource } from "../../src/impl/source.js";
import { makeImage } from "../helpers/images.js";
import { COOKIE, libvirtPrefix, writeLibvirtImage, XML } from "./image.js";

let dir: { path: string; cleanup(): Promise<void> };
let image: string;
beforeAll(async () => {
  dir = await tmpDir({ unsafeCleanup: true });
  image = join(dir.path, "ram.img");
  await writeFile(image, makeImage("zeroRuns", 300));
});
afterAll(async () => {
  await dir.cleanup();
});

describe("libvirt header", () => {
  it("decodes every field, the XML, the cookie and the stream offset", async () => {
    const { prefix, dataLen } = libvirtPrefix();
    const h = await readLibvirtHeader(new MemorySource(prefix));
    expect(h).toMatchObject({
      magic: "LibvirtQemudSave",
      complete: true,
      byteSwapped: false,
      version: 2,
      dataLen,
      wasRunning: 1,
      format: 6,
      formatName: "sparse",
      cookieOffset: XML.length + 1,
      streamOffset: BigInt(92 + dataLen),
      xml: XML,
      cookie: COOKIE,
      domainName: "sparseprobe",
      memory: { value: 131072, unit: "KiB" },
    });
    expect(h?.unused).toEqual(Array.from({ length: 14 }, () => 0));
  });
  it("accepts the byte-swapped form, as libvirt does (version > 2 means swapped)", async () => {
    const h = await readLibvirtHeader(new MemorySource(libvirtPrefix({ bigEndian: true }).prefix));
    expect(h).toMatchObject({ byteSwapped: true, version: 2, format: 6, wasRunning: 1 });
  });
  it("is not a libvirt image without the magic", async () => {
    expect(
      await readLibvirtHeader(new MemorySource(new TextEncoder().encode("QEVM\0\0\0\x03"))),
    ).toBeUndefined();
  });
});

describe("reading the stream inside a libvirt image", () => {
  it("finds QEVM at 0x5c + data_len and reads absolute offsets", async () => {
    const path = join(dir.path, "ok.img");
    const offset = await writeLibvirtImage(path, image);
    const src = await FileSource.open(path);
    try {
      const s = await parseStream(src);
      expect(s.offset).toBe(offset);
      expect(s.libvirt?.formatName).toBe("sparse");
      // the prefix is below 1 MiB, so pc.ram's pages still land at 0x100000 (spec libvirt §5.2)
      expect(s.ramBlocks[0]?.mappedRam?.pagesOffset).toBe(0x100000n);
      expect(s.ramBlocks[0]?.mappedRam?.bitmapOffset).toBe(
        (s.ramBlocks[0]?.mappedRam?.headerOffset ?? 0n) + 28n,
      );
      await extractBlocks(src, join(dir.path, "ok.out"));
      expect(
        Buffer.compare(await readFile(join(dir.path, "ok.out", "pc.ram.bin")), makeImage("zeroRuns", 300)),
      ).toBe(0);
    } finally {
      await src.close();
    }
  });

  const refused: Array<[string, Parameters<typeof libvirtPrefix>[0], string, bigint, string]> = [
    [
      "an incomplete image (LibvirtQemudPart)",
      { magic: "LibvirtQemudPart" },
      "ERR_INVALID_VALUE",
      0n,
      "cannot decode libvirt save image at offset 0x0: magic is LibvirtQemudPart",
    ],
    [
      "a compressed image",
      { format: 3 },
      "ERR_UNDECODABLE",
      0x1cn,
      "cannot decode libvirt save image at offset 0x1c: format is xz",
    ],
    [
      "version 1",
      { version: 1 },
      "ERR_UNSUPPORTED_VERSION",
      0x10n,
      "cannot decode libvirt save image at offset 0x10: version must be 2",
    ],
    [
      "data_len past the end of the file",
      { dataLenDelta: 0x1000000 },
      "ERR_TRUNCATED",
      0x14n,
      "cannot decode libvirt save image at offset 0x14: data_len puts the QEMU stream at",
    ],
  ];
  for (const [name, fields, code, offset, message] of refused) {
    it(`refuses ${name}`, async () => {
      const path = join(dir.path, `${name.replace(/\W+/g, "-")}.img`);
      await writeLibvirtImage(path, image, fields);
      const src = await FileSource.open(path);
      try {
        const e = await parseStream(src).then(
          () => undefined,
          (err: unknown) => err as { code: string; offset: bigint; message: string },
        );
        expect(e?.code).toBe(code);
        expect(e?.offset).toBe(offset);
        expect(e?.message.startsWith(message), e?.message).toBe(true);
      } finally {
        await src.close();
      }
    });
  }

  it("still reads the stream with an explicit --offset, whatever the header says", async () => {
    const path = join(dir.path, "part.img");
    const offset = await writeLibvirtImage(path, image, { magic: "LibvirtQemudPart" });
    const src = await FileSource.open(path);
    try {
      const s = await parseStream(src, { offset });
      expect(s.libvirt?.complete).toBe(false);
      expect(s.ramBlocks).toHaveLength(1);
    } finally {
      await src.close();
    }
  });
});
