// SocketReader.readViews (a packet's page data as views of the chunks it arrived in) and viewsOfRange (the
// bytes of one run of pages out of those views), which the receiver writes pages from without joining them.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MappedRamError } from "../../src/impl/errors.js";
import { viewsOfRange } from "../../src/impl/multifd/received-ram.js";
import { connectionHighWaterMark } from "../../src/impl/multifd/receiver.js";
import { SocketReader } from "../../src/impl/multifd/socket-reader.js";
import { unixSocketPair } from "./fixtures.js";

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

describe("SocketReader.readViews", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mrc-reader-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

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

  it("gives exactly n bytes across chunks, then the rest from where it stopped", async () => {
    const { reader, done } = await readerOf("views", [bytes(3000, 0), bytes(5000, 3000), bytes(100, 8000)]);
    try {
      const head = await reader.read(100, "t");
      expect([...head]).toEqual([...bytes(100, 0)]);
      const views = await reader.readViews(7950, "t");
      expect(views.map((v) => v.length)).toEqual([2900, 5000, 50]);
      expect(joined(views).equals(Buffer.from(bytes(7950, 100)))).toBe(true);
      expect(reader.pos).toBe(8050n);
      expect([...(await reader.read(50, "t"))]).toEqual([...bytes(50, 8050)]);
      expect(await reader.readOrEnd(1, "t")).toBeUndefined();
    } finally {
      done();
    }
  });

  it("refuses a read the stream ends before, naming the offset and the field", async () => {
    const { reader, done } = await readerOf("short", [bytes(1000, 0), bytes(400, 1000)]);
    try {
      await reader.read(200, "t");
      const e = await reader.readViews(4096, "multifd channel 2", "page data").then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(MappedRamError);
      const err = e as MappedRamError;
      expect(err.code).toBe("ERR_TRUNCATED");
      expect(err.offset).toBe(200n);
      expect(err.field).toBe("page data");
      expect(err.message).toContain("needs 4096 bytes but the connection ended after 1200");
    } finally {
      done();
    }
  });
});
