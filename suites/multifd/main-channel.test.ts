// The main channel of packets mode: the composer against bytes written out by hand from
// ../shared/spec/mapped-ram-format.md sections 1.1-1.4, 2.1 and 6.3 (QEMU 10.0.2, -M none, block "r" of 4 MiB),
// and the streaming parser on those bytes over a real (unix) socket.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { QEMU_VM_SECTION_END, QEMU_VM_SECTION_PART } from "../../src/impl/constants.js";
import { MappedRamError } from "../../src/impl/errors.js";
import { MACHINE_NONE } from "../../src/impl/machine.js";
import { MainChannelComposer } from "../../src/impl/multifd/precopy-compose.js";
import {
  type MainChannelSummary,
  parseMainChannel,
  type StreamBlock,
} from "../../src/impl/multifd/precopy-parse.js";
import { SocketReader } from "../../src/impl/multifd/socket-reader.js";
import { tempDir } from "../cli/fixtures.js";
import { unixSocketPair } from "./fixtures.js";

const dir = await tempDir("main");

const hexBytes = (s: string) =>
  Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (h) => Number.parseInt(h, 16));
const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

// 1.1 + 1.2: "QEVM", version 3, 07, be32 4, "none", no subsection (multifd is not a validated capability)
const HEADER = "5145564d 00000003 07 00000004 6e6f6e65";
// 1.3 + 2.1 + 6.3: START id 1 "ram" instance 0 version 4; MEM_SIZE 0x400000|4; "r" 0x400000; FLUSH; EOS; footer
const START = "01 00000001 03 72616d 00000000 00000004 0000000000400004 01 72 0000000000400000";
const FLUSH = "0000000000000200";
const EOS_FOOTER = "0000000000000010 7e 00000001";
const PART = "02 00000001";
// 2.1: ZERO records (legacy zero-page detection): page 0 names the block, page 3 continues it; fill byte 0
const ZERO_PAGES = "0000000000000002 01 72 00" + "0000000000003022 00";
// 1.3: MIG_CMD_SWITCHOVER_START, length 0
const SWITCHOVER = "08 000b 0000";
const END = "03 00000001";
/** The whole main channel up to the devices: setup, one PART with the zero pages, completion. */
const RAM_PHASES = [
  HEADER,
  START,
  FLUSH,
  EOS_FOOTER,
  PART,
  ZERO_PAGES,
  FLUSH,
  EOS_FOOTER,
  SWITCHOVER,
  END,
  FLUSH,
  EOS_FOOTER,
].join("");

describe("main channel composer", () => {
  it("writes header, START with the setup flush, PART with zero pages and a flush, SWITCHOVER_START, END", () => {
    const c = new MainChannelComposer(MACHINE_NONE.ramSection);
    c.header({ machineName: "none", capabilities: [] });
    c.ramStart([{ idstr: "r", usedLength: 0x400000n }])
      .multifdFlush()
      .ramEos();
    c.ramIterate(QEMU_VM_SECTION_PART).zeroPage("r", 0n).zeroPage("r", 0x3000n).multifdFlush().ramEos();
    c.switchoverStart().ramIterate(QEMU_VM_SECTION_END).multifdFlush().ramEos();
    const expected = RAM_PHASES.replace(/\s+/g, "");
    expect(hexOf(c.take())).toBe(expected);
    expect(c.pending).toBe(0);
  });

  it("names the block again after a zero page of another block", () => {
    const c = new MainChannelComposer(MACHINE_NONE.ramSection);
    c.zeroPage("a", 0x1000n).zeroPage("b", 0x2000n).zeroPage("b", 0x3000n);
    expect(hexOf(c.take())).toBe("0000000000001002016100" + "0000000000002002016200" + "000000000000302200");
  });
});

describe("main channel parser", () => {
  /** Sends `bytes` over a unix socket and parses them as they arrive. */
  async function parse(bytes: Uint8Array, name: string) {
    const events: string[] = [];
    const { client, accepted, close } = await unixSocketPair(join(dir, `${name}.sock`));
    const reader = new SocketReader(accepted);
    client.end(bytes);
    try {
      const summary: MainChannelSummary = await parseMainChannel(reader, {
        onBlocks: (b: readonly StreamBlock[]) => {
          events.push(`blocks ${b.map((x) => `${x.idstr}:${x.usedLength}`).join(",")}`);
        },
        onFlush: async (k, at) => {
          events.push(`flush ${k} @${at}`);
        },
        onZeroPage: (b, a) => {
          events.push(`zero ${b.idstr} ${a}`);
        },
        onPage: (b, a, d) => {
          events.push(`page ${b.idstr} ${a} ${d.length}`);
        },
      });
      return { summary, events };
    } finally {
      close();
    }
  }

  const tail = () => {
    const c = new MainChannelComposer(MACHINE_NONE.ramSection);
    for (const d of MACHINE_NONE.devices("prelaunch")) c.device(d);
    return hexOf(c.eof(null).take());
  };

  it("walks a whole stream and calls the hooks in stream order", async () => {
    const stream = hexBytes(RAM_PHASES + tail());
    const { summary, events } = await parse(stream, "whole");
    // offsets: header 17 bytes, START 35, EOS+footer 13, PART header 5, zero records 20, SWITCHOVER 5, END 5
    expect(events).toEqual([
      "blocks r:4194304",
      "flush 1 @52",
      "zero r 0",
      "zero r 12288",
      "flush 2 @98",
      "flush 3 @129",
    ]);
    expect(summary.flushes).toBe(3);
    expect(summary.zeroRecords).toBe(2);
    expect(summary.partSections).toBe(1);
    expect(summary.switchoverStart).toBe(true);
    expect(summary.devices.map((d) => d.section.idstr)).toEqual(["timer", "globalstate"]);
    expect(summary.vmdesc).toBeUndefined();
    expect(summary.length).toBe(BigInt(stream.length));
  });

  it("refuses a zero page with a non-zero fill byte, as QEMU 10.0 does", async () => {
    const stream = hexBytes(`${HEADER}${START}${FLUSH}${EOS_FOOTER}${PART}0000000000000002 01 72 07`);
    const e = await parse(stream, "fill").then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(MappedRamError);
    expect(e).toMatchObject({ code: "ERR_INVALID_VALUE", field: "fill" });
  });

  it("refuses a page of a block the START section did not list", async () => {
    const stream = hexBytes(`${HEADER}${START}${FLUSH}${EOS_FOOTER}${PART}0000000000000002 01 73 00`);
    await expect(parse(stream, "unknown")).rejects.toMatchObject({
      code: "ERR_UNKNOWN_BLOCK",
      field: "idstr",
    });
  });

  it("refuses a stream cut in the middle of a record", async () => {
    const stream = hexBytes(`${HEADER}${START}00000000`);
    await expect(parse(stream, "cut")).rejects.toMatchObject({ code: "ERR_TRUNCATED" });
  });
});
