// SocketReader.readViewsUpTo (page data as views of the chunks it arrived in, as it arrives) and
// viewsOfRange (the bytes of one run of pages out of those views), which the receiver writes pages from
// without joining them; connectionHighWaterMark, how much a connection may hold unread.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { viewsOfRange } from "../../src/impl/multifd/received-ram.js";
import { connectionHighWaterMark } from "../../src/impl/multifd/receiver.js";
import { SocketReader, shortRead } from "../../src/impl/multifd/socket-reader.js";
import { tempDir } from "../cli/fixtures.js";
import { unixSocketPair } from "./fixtures.js";

const dir = await tempDir("reader");

const joined = (views: readonly Uint8Array[]) => Buffer.concat(views.map((v) => Buffer.from(v)));

describe("viewsOfRange", () => {
  const a = Uint8Array.from([0, 1, 2, 3]);
  const b = Uint8Array.from([4, 5]);
  const c = Uint8Array.from([6, 7, 8]);
  const shape = (vs: Uint8Array[]) =>
    vs.map((v) => [[a, b, c].findIndex((x) => x.buffer === v.buffer), [...v]]);

  it("cuts the range out of the views it spans, keeping whole views as they are", () => {
    expect(shape(viewsOfRange([a, b, c], 2, 7))).toEqual([
      [0, [2, 3]],
      [1, [4, 5]],
      [2, [6]],
    ]);
    const whole = viewsOfRange([a, b, c], 4, 6);
    expect(whole).toHaveLength(1);
    expect(whole[0]).toBe(b);
    expect(shape(viewsOfRange([a, b, c], 0, 9))).toEqual([
      [0, [0, 1, 2, 3]],
      [1, [4, 5]],
      [2, [6, 7, 8]],
    ]);
    expect(viewsOfRange([a, b, c], 5, 5)).toEqual([]);
  });

  it("refuses a range past the end of the views", () => {
    expect(() => viewsOfRange([a, b], 1, 7)).toThrow("bytes up to 7 asked of views holding 6");
  });
});

describe("connectionHighWaterMark", () => {
  it("lets each connection hold 4 MiB, less with many channels (32 MiB over all), never under 256 KiB", () => {
    const MiB = 1024 * 1024;
    expect([1, 4, 7].map(connectionHighWaterMark)).toEqual([4 * MiB, 4 * MiB, 4 * MiB]);
    expect(connectionHighWaterMark(15)).toBe(2 * MiB);
    expect(connectionHighWaterMark(63)).toBe(MiB / 2);
    expect([127, 255].map(connectionHighWaterMark)).toEqual([MiB / 4, MiB / 4]);
  });
});

describe("SocketReader.readViewsUpTo", () => {
  /**
   * A reader on the accepting end of a unix socket; the client writes `parts` one by one, each once the
   * reader holds the one before (so each arrives as a chunk of its own), then ends.
   */
  async function readerOf(
    name: string,
    parts: Uint8Array[],
  ): Promise<{ reader: SocketReader; done: () => void }> {
    const { client, accepted, close } = await unixSocketPair(join(dir, `${name}.sock`));
    const reader = new SocketReader(accepted);
    let sent = 0;
    for (const p of parts) {
      await new Promise<void>((resolve) => client.write(p, () => resolve()));
      sent += p.length;
      await reader.peek(sent);
    }
    client.end();
    return {
      reader,
      done: close,
    };
  }

  const bytes = (n: number, from: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

  it("gives up to max bytes of what has arrived, across chunks, then the rest, then none at the end", async () => {
    const { reader, done } = await readerOf("views", [bytes(3000, 0), bytes(5000, 3000), bytes(100, 8000)]);
    try {
      const head = await reader.read(100, "t");
      expect([...head]).toEqual([...bytes(100, 0)]);
      const views = await reader.readViewsUpTo(7950);
      expect(views.map((v) => v.length)).toEqual([2900, 5000, 50]);
      expect(joined(views).equals(Buffer.from(bytes(7950, 100)))).toBe(true);
      expect(reader.pos).toBe(8050n);
      const rest = await reader.readViewsUpTo(1000);
      expect(joined(rest).equals(Buffer.from(bytes(50, 8050)))).toBe(true);
      expect(await reader.readViewsUpTo(10)).toEqual([]);
      expect(reader.pos).toBe(8100n);
    } finally {
      done();
    }
  });

  it("words a short read with the offset, field and counts (shortRead)", () => {
    const e = shortRead("multifd channel 2 packet 5", 200n, 4096, 1200, "page data");
    expect(e).toBeInstanceOf(MappedRamError);
    expect([e.code, e.offset, e.field, e.bytesRequested, e.bytesAvailable]).toEqual([
      "ERR_TRUNCATED",
      200n,
      "page data",
      4096n,
      1200n,
    ]);
    expect(e.message).toBe(
      "cannot decode multifd channel 2 packet 5 at offset 0xc8: page data needs 4096 bytes but the connection ended after 1200",
    );
  });
});
