// Disk full and I/O errors while writing outputs (the built CLI): save, extract, reencode and receive give
// one clear ERR_IO line, exit 2, and leave no partial output.
//   - disk full: a 2 MiB tmpfs mounted by the test (needs root; when mount is refused these tests are
//     skipped with the reason, and the file-size-limit tests below still inject a write error);
//   - an I/O error: the command runs with RLIMIT_FSIZE (prlimit), so a write past the limit fails with
//     EFBIG — a fault injected by the kernel, not by our code.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mrc } from "../helpers/cli.js";
import {
  denseImage,
  havePrlimit,
  LIMIT_MS,
  mountTinyTmpfs,
  mrcWithFileSizeLimit,
  receiveInBackground,
  sha256,
} from "./helpers.js";

const work = await mkdtemp(join(tmpdir(), "mrc-diskfull-"));
const tiny = join(work, "tiny");
const mounted = await mountTinyTmpfs(tiny, 2048);
const refused = "refused" in mounted ? mounted.refused : undefined;
if (refused !== undefined) {
  console.warn(`disk-full tests skipped: cannot mount a tmpfs (${refused}); the EFBIG tests still run`);
}

let image: string;
let mig: string;
const hashes = new Map<string, string>();

beforeAll(async () => {
  // 4 MiB of non-zero pages: every page is written, twice the tmpfs
  image = join(work, "ram.img");
  await writeFile(image, denseImage(1024));
  mig = join(work, "in.mig");
  const r = await mrc(["save", "--block", `r=${image}`, "-o", mig]);
  expect(r.stderr).toBe("");
  for (const f of [image, mig]) hashes.set(f, await sha256(f));
}, 60_000);

afterAll(async () => {
  for (const [f, h] of hashes) expect(await sha256(f), `${f} was modified`).toBe(h);
  if (!("refused" in mounted)) await mounted.unmount();
  await rm(work, { recursive: true, force: true });
});

/** One line, code ERR_IO, the errno named. */
function expectIoError(r: { exitCode: number; stderr: string }, errno: string): void {
  expect(r.exitCode).toBe(2);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^mrc: ERR_IO( @0x[0-9a-f]+)?: cannot write .*${errno}`));
}

describe.skipIf(refused !== undefined)("disk full (a 2 MiB tmpfs)", () => {
  afterEach(async () => {
    // whatever a test left, the next one starts on an empty filesystem (and the test checks emptiness)
    for (const n of await readdir(tiny)) await rm(join(tiny, n), { recursive: true, force: true });
  });

  it("mrc save: ENOSPC, exit 2, no partial file", async () => {
    const r = await mrc(["save", "--block", `r=${image}`, "-o", join(tiny, "vm.mig")], LIMIT_MS);
    expectIoError(r, "ENOSPC");
    expect(await readdir(tiny)).toEqual([]);
  });

  it.each([
    [null, "main channel's"],
    [1, "multifd channel 0's"],
    [4, "multifd channel's"],
  ])(
    "mrc save (multifd %s): a %s write fails with ENOSPC; the error names the output",
    async (channels, _who) => {
      const target = join(tiny, "vm.mig");
      const r = await mrc(
        [
          "save",
          "--block",
          `r=${image}`,
          "-o",
          target,
          ...(channels ? ["--multifd-channels", String(channels)] : []),
        ],
        LIMIT_MS,
      );
      expectIoError(r, "ENOSPC");
      // the failed write's channel: 0 with one channel (whichever I/O thread carried it), 0-3 with four
      const channel = channels === null ? "" : `, multifd channel ${channels === 1 ? "0" : "[0-3]"}`;
      expect(r.stderr).toMatch(
        new RegExp(
          `^mrc: ERR_IO @0x[0-9a-f]+: cannot write file "${target}" \\(written as "\\.vm\\.mig\\.mrc-save-\\d+\\.partial"${channel}\\) at offset 0x[0-9a-f]+: ENOSPC: no space left on device, write$`,
        ),
      );
      expect(await readdir(tiny)).toEqual([]);
    },
  );

  it("mrc extract: ENOSPC, exit 2, no block file", async () => {
    const out = join(tiny, "x");
    const r = await mrc(["extract", mig, "-o", out], LIMIT_MS);
    expectIoError(r, "ENOSPC");
    expect(await readdir(out)).toEqual([]);
  });

  it("mrc reencode: ENOSPC, exit 2, no partial file", async () => {
    const r = await mrc(["reencode", mig, "-o", join(tiny, "again.mig")], LIMIT_MS);
    expectIoError(r, "ENOSPC");
    expect(await readdir(tiny)).toEqual([]);
  });

  for (const kind of ["blocks", "mig"] as const) {
    it(`mrc receive (${kind === "blocks" ? "block files" : "a .mig"}): ENOSPC, exit 2, nothing left`, async () => {
      const out = kind === "blocks" ? join(tiny, "rx") : join(tiny, "vm.mig");
      const rx = receiveInBackground([
        "--listen",
        `unix:${join(work, `full-${kind}.sock`)}`,
        "--multifd-channels",
        "2",
        "-o",
        out,
      ]);
      const to = await rx.address;
      const sent = await mrc(
        ["send", "--block", `r=${image}`, "--multifd-channels", "2", "--to", to],
        LIMIT_MS,
      );
      const got = await rx.child;
      expectIoError({ exitCode: got.exitCode ?? -1, stderr: String(got.stderr) }, "ENOSPC");
      expect([0, 2]).toContain(sent.exitCode);
      expect(await readdir(kind === "blocks" ? out : tiny)).toEqual([]);
    });
  }
});

describe.skipIf(!havePrlimit)("an I/O error while writing (RLIMIT_FSIZE 1 MiB: EFBIG)", () => {
  const LIMIT = 1024 * 1024;
  const dirFor = async (name: string) => {
    const d = join(work, name);
    await mkdir(d, { recursive: true });
    return d;
  };

  it("mrc save: EFBIG, exit 2, no partial file", async () => {
    const dir = await dirFor("efbig-save");
    const r = await mrcWithFileSizeLimit(LIMIT, ["save", "--block", `r=${image}`, "-o", join(dir, "vm.mig")]);
    expectIoError(r, "EFBIG");
    expect(await readdir(dir)).toEqual([]);
  });

  it("mrc save --offset over an existing target with --force: EFBIG, the old target is kept", async () => {
    const dir = await dirFor("efbig-save-offset");
    const target = join(dir, "vm.mig");
    await writeFile(target, Buffer.alloc(0x2000, 0x58));
    const r = await mrcWithFileSizeLimit(LIMIT, [
      "save",
      "--block",
      `r=${image}`,
      "--offset",
      "0x1000",
      "-o",
      target,
      "--force",
    ]);
    expectIoError(r, "EFBIG");
    expect(await readdir(dir)).toEqual(["vm.mig"]);
    expect(await readFile(target)).toEqual(Buffer.alloc(0x2000, 0x58));
  });

  it("mrc extract: EFBIG, exit 2, no block file", async () => {
    const dir = join(work, "efbig-x");
    const r = await mrcWithFileSizeLimit(LIMIT, ["extract", mig, "-o", dir]);
    expectIoError(r, "EFBIG");
    expect(await readdir(dir)).toEqual([]);
  });

  it("mrc reencode: EFBIG, exit 2, no partial file", async () => {
    const dir = await dirFor("efbig-re");
    const r = await mrcWithFileSizeLimit(LIMIT, ["reencode", mig, "-o", join(dir, "again.mig")]);
    expectIoError(r, "EFBIG");
    expect(await readdir(dir)).toEqual([]);
  });

  it("mrc receive: EFBIG, exit 2, no block file", async () => {
    const dir = join(work, "efbig-rx");
    const rx = receiveInBackground(
      ["--listen", `unix:${join(work, "efbig.sock")}`, "--multifd-channels", "1", "-o", dir],
      ["prlimit", `--fsize=${LIMIT}`],
    );
    const to = await rx.address;
    await mrc(["send", "--block", `r=${image}`, "--multifd-channels", "1", "--to", to], LIMIT_MS);
    const got = await rx.child;
    expectIoError({ exitCode: got.exitCode ?? -1, stderr: String(got.stderr) }, "EFBIG");
    expect(await readdir(dir)).toEqual([]);
  });
});
