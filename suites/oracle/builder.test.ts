// The test builder itself against the spec's reference file (spec 8.1 landmarks, observed on QEMU
// 10.0.2): the hand-made cases are only as good as the file they start from.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { makeImage } from "../helpers/images.js";
import { buildFile, vmdescJson } from "./helpers/builder.js";

const SPEC = "/work/shared/spec/mapped-ram-format.md";

function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

function ascii(s: string): string {
  return hexBytes(Uint8Array.from([...s].map((c) => c.charCodeAt(0))));
}

describe("test builder vs the spec 8.1 reference file", () => {
  const built = buildFile({ blocks: [{ idstr: "r", pages: 2048, image: makeImage("spec8", 2048) }] });
  const f = built.file;
  const at = (o: number, n: number) => hexBytes(f.bytesAt(BigInt(o), n));

  it("has the landmarks of spec 8.1", () => {
    expect(at(0x0, 8)).toBe("51 45 56 4d 00 00 00 03");
    expect(at(0x8, 9)).toBe(`07 00 00 00 04 ${ascii("none")}`);
    expect(at(0x11, 2)).toBe("05 1a");
    expect(at(0x31, 5)).toBe("00 00 00 01 0a");
    expect(at(0x40, 9)).toBe(`01 00 00 00 01 03 ${ascii("ram")}`);
    expect(at(0x51, 8)).toBe("00 00 00 00 00 80 00 04");
    expect(at(0x59, 10)).toBe(`01 ${ascii("r")} 00 00 00 00 00 80 00 00`);
    expect(at(0x63, 28)).toBe(
      "00 00 00 01 00 00 00 00 00 00 10 00 00 00 00 00 00 00 00 7f 00 00 00 00 00 10 00 00",
    );
    expect(at(0x7f, 3)).toBe("ee ee ee");
    expect(at(0x100000, 4096)).toBe(hexBytes(new Uint8Array(4096)));
    expect(at(0x101000, 2)).toBe("07 07");
    expect(at(0x102fff, 1)).toBe("aa");
    expect(at(0x103000, 2)).toBe("03 00");
    expect(at(0x900000, 13)).toBe("00 00 00 00 00 00 00 10 7e 00 00 00 01");
    expect(at(0x90000d, 5)).toBe("02 00 00 00 01");
    expect(at(0x90001f, 5)).toBe("08 00 0b 00 00");
    expect(at(0x900024, 5)).toBe("03 00 00 00 01");
    expect(at(0x900036, 7)).toBe(`04 00 00 00 00 05 ${ascii("t")}`);
    expect(at(0x900066, 5)).toBe("04 00 00 00 03");
    expect(at(0x9000ec, 6)).toBe("00 06 00 00 04 00");
    expect(f.size).toBe(0x9004f2n);
  });

  it("writes the spec's 1024-byte vmdesc JSON", () => {
    const spec = readFileSync(SPEC, "utf8")
      .split("\n")
      .find((l) => l.startsWith('{"configuration"'));
    expect(vmdescJson("none", ["mapped-ram"], true)).toBe(spec);
    expect(built.jsonLength).toBe(1024);
  });

  it.each([
    [0n, 0x9004f2n],
    [0x1000n, 0x9004f2n],
    [12345n, 0x9004f2n],
    [0x100000n, 0xa004f2n],
    [0x1fff00n, 0xb004f2n],
  ])("offset %s ends the file at %s (spec 4.4)", (offset, end) => {
    expect(buildFile({ offset, blocks: [{ idstr: "r", pages: 2048 }] }).file.size).toBe(end);
  });
});
