// The progress reporter: drawn only on a terminal (stdout and stderr), never with --quiet or --json,
// colour only without NO_COLOR; and the onProgress callbacks of the writer and the extractor.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { OutputStream } from "../../src/cli/common.js";
import { createProgress, formatBytes, formatProgressLine, progressWanted } from "../../src/cli/progress.js";
import { extractBlocks } from "../../src/impl/extract.js";
import { FileSource } from "../../src/impl/source.js";
import { checkFile, openFileSource } from "../../src/oracle/index.js";
import { PAGE, saveFile, specImage, tempDir } from "./fixtures.js";
import { run } from "./run.js";

const dir = await tempDir("progress");
const MiB = 1024n * 1024n;

class FakeTerminal implements OutputStream {
  readonly chunks: string[] = [];
  columns = 80;
  constructor(
    readonly isTTY: boolean,
    private readonly colours = true,
  ) {}
  hasColors(): boolean {
    return this.colours;
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
}

/** A clock that moves only when told: nanoseconds. */
function fakeClock() {
  let now = 0n;
  return { clock: () => now, advanceMs: (ms: number) => (now += BigInt(ms) * 1_000_000n) };
}

describe("formatting", () => {
  it("sizes in binary units", () => {
    expect(formatBytes(0n)).toBe("0 B");
    expect(formatBytes(1023n)).toBe("1023 B");
    expect(formatBytes(1024n)).toBe("1.0 KiB");
    expect(formatBytes(1536n)).toBe("1.5 KiB");
    expect(formatBytes(8n * MiB)).toBe("8.0 MiB");
    expect(formatBytes(9438450n)).toBe("9.0 MiB");
    expect(formatBytes(2n * 1024n * MiB)).toBe("2.0 GiB");
  });

  it("one line: bar, percent, bytes done / total, rate", () => {
    // 4 MiB of 8 MiB in 2 s: 50 %, 2 MiB/s; the 34-character numbers leave 80 - 4 - 34 - 6 = 36 cells
    const line = formatProgressLine("save", 4n * MiB, 8n * MiB, 2_000_000_000n, 80);
    expect(line).toBe(`save  ${"█".repeat(18)}${"░".repeat(18)}   50%  4.0 MiB / 8.0 MiB  2.0 MiB/s`);
    expect(line.length).toBeLessThanOrEqual(80);
    // too narrow for a bar: numbers only
    expect(formatProgressLine("save", 0n, 8n * MiB, 0n, 30)).toBe("save    0%  0 B / 8.0 MiB  0 B/s");
  });
});

describe("counting results (mrc conformance)", () => {
  it("shows results done / total and results per second", () => {
    // 11 + 25 ("  25%  5 / 20 results  5/s") + 6 leaves 58 columns: a 40-wide bar, a quarter filled
    expect(formatProgressLine("conformance", 5n, 20n, 1_000_000_000n, 100, (s) => s, "results")).toBe(
      `conformance  ${"█".repeat(10)}${"░".repeat(30)}   25%  5 / 20 results  5/s`,
    );
  });
});

describe("when a bar is drawn", () => {
  it("only when stdout and stderr are both terminals, not --quiet, not --json, not TERM=dumb", () => {
    const tty = new FakeTerminal(true);
    const pipe = new FakeTerminal(false);
    const env = {};
    expect(progressWanted({ stdout: tty, stderr: tty, env })).toBe(true);
    expect(progressWanted({ stdout: pipe, stderr: tty, env })).toBe(false);
    expect(progressWanted({ stdout: tty, stderr: pipe, env })).toBe(false);
    expect(progressWanted({ stdout: tty, stderr: tty, env, quiet: true })).toBe(false);
    expect(progressWanted({ stdout: tty, stderr: tty, env, json: true })).toBe(false);
    expect(progressWanted({ stdout: tty, stderr: tty, env: { TERM: "dumb" } })).toBe(false);
  });

  it("draws in place on stderr, at most every 100 ms, always the last update, and erases itself", () => {
    const err = new FakeTerminal(true);
    const t = fakeClock();
    const p = createProgress("extract", {
      stdout: new FakeTerminal(true),
      stderr: err,
      env: {},
      clock: t.clock,
    });
    expect(p.enabled).toBe(true);
    t.advanceMs(10);
    p.update(1n * MiB, 8n * MiB);
    t.advanceMs(50);
    p.update(2n * MiB, 8n * MiB); // within 100 ms of the last draw: skipped
    t.advanceMs(60);
    p.update(3n * MiB, 8n * MiB);
    t.advanceMs(1);
    p.update(8n * MiB, 8n * MiB); // the last one always draws
    p.finish();
    expect(err.chunks).toHaveLength(4);
    const first = err.chunks[0] ?? "";
    expect(first.startsWith("\rextract  ")).toBe(true);
    expect(first.endsWith("  12%  1.0 MiB / 8.0 MiB  100.0 MiB/s\x1b[K")).toBe(true);
    expect(err.chunks[1]).toContain(" 37%  3.0 MiB / 8.0 MiB");
    expect(err.chunks[2]).toContain("100%  8.0 MiB / 8.0 MiB");
    expect(err.chunks[3]).toBe("\r\x1b[K");
  });

  it("colours the bar on a colour terminal; NO_COLOR turns it off", () => {
    const drawWith = (env: Record<string, string>) => {
      const err = new FakeTerminal(true, true);
      const p = createProgress("save", { stdout: err, stderr: err, env, clock: () => 1n });
      p.update(1n, 2n);
      return err.chunks.join("");
    };
    expect(drawWith({})).toContain("\x1b[32m");
    expect(drawWith({ NO_COLOR: "1" })).not.toContain("\x1b[3");
  });

  it("writes nothing when disabled", () => {
    const err = new FakeTerminal(true);
    const p = createProgress("save", { stdout: new FakeTerminal(false), stderr: err, env: {} });
    expect(p.enabled).toBe(false);
    p.update(1n, 2n);
    p.finish();
    expect(err.chunks).toEqual([]);
  });
});

describe("onProgress of the writer and the extractor", () => {
  it("save reports RAM bytes done up to the total (8 MiB), in order", async () => {
    const calls: Array<[bigint, bigint]> = [];
    await saveFile(dir, [{ idstr: "r", image: specImage() }], { onProgress: (d, t) => calls.push([d, t]) });
    // channels read the image file in 16 MiB ranges (suites/impl/writer-channels.test.ts): one range
    expect(calls).toEqual([[8n * MiB, 8n * MiB]]);
  });

  it("extract reports the present pages' bytes (spec 8: 1486 pages) up to their total", async () => {
    const mig = await saveFile(dir, [{ idstr: "r", image: specImage() }]);
    const calls: Array<[bigint, bigint]> = [];
    const src = await FileSource.open(mig);
    try {
      await extractBlocks(src, join(dir, "out"), { onProgress: (d, t) => calls.push([d, t]) });
    } finally {
      await src.close();
    }
    const total = 1486n * BigInt(PAGE);
    expect(calls.at(-1)).toEqual([total, total]);
    expect(
      calls.every(([d, t], i) => t === total && (i === 0 || d > (calls[i - 1] as [bigint, bigint])[0])),
    ).toBe(true);
  });

  it("verify reports the page scan's file position up to the end of the last page array", async () => {
    const mig = await saveFile(dir, [{ idstr: "r", image: specImage() }]);
    const calls: Array<[bigint, bigint]> = [];
    const src = await openFileSource(mig);
    try {
      await checkFile(src, { onProgress: (d, t) => calls.push([d, t]) });
    } finally {
      await src.close();
    }
    // spec 8.1: pages 0x100000..0x900000 in a 0x9004f2-byte file, scanned 256 pages (1 MiB) at a time
    expect(calls).toHaveLength(8);
    expect(calls.map(([d]) => d)).toEqual(
      Array.from({ length: 8 }, (_, i) => 0x100000n + BigInt(i + 1) * 0x100000n),
    );
    expect(calls.every(([, t]) => t === 0x9004f2n)).toBe(true);
  });

  it("--json output of save and extract is one JSON document (no progress in it)", async () => {
    const img = join(dir, "img-json.bin");
    await writeFile(img, specImage(64));
    const out = join(dir, "json.mig");
    const s = await run(["save", "--block", `r=${img}`, "-o", out, "--json"]);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ file: out });
    expect(s.stderr).toBe("");
    const x = await run(["extract", out, "-o", join(dir, "json-out"), "--json"]);
    expect(x.code).toBe(0);
    expect(JSON.parse(x.stdout)).toMatchObject({ blocks: [{ idstr: "r" }] });
    expect(x.stderr).toBe("");
  });
});
