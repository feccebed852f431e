// Which byte ranges of a file hold data (not holes): lseek(SEEK_DATA/SEEK_HOLE). Node has no lseek, so
// the kernel is asked through python3's os.lseek; where python3 or SEEK_DATA is missing (or the
// filesystem does not report holes), the answer is undefined and callers say "unknown".
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";

/** [start, end) data extents in file order. */
export type DataExtents = Array<[bigint, bigint]>;

const SCRIPT = `
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
pos = 0
out = []
while pos < size:
    try:
        start = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(fd, start, os.SEEK_HOLE)
    out.append("%d %d" % (start, end))
    pos = end
print("\\n".join(out))
`;

/** At most this many extents are read (a file with more is reported as unknown). */
const MAX_EXTENTS = 1_000_000;

export function dataExtents(path: string, timeoutMs = 30_000): Promise<DataExtents | undefined> {
  return new Promise((resolve) => {
    execFile(
      "python3",
      ["-c", SCRIPT, path],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return resolve(undefined);
        const lines = stdout.split("\n").filter((l) => l.length > 0);
        if (lines.length > MAX_EXTENTS) return resolve(undefined);
        const out: DataExtents = [];
        for (const l of lines) {
          const [a, b] = l.split(" ");
          if (a === undefined || b === undefined) return resolve(undefined);
          out.push([BigInt(a), BigInt(b)]);
        }
        resolve(out);
      },
    );
  });
}

const SUM_SCRIPT = `
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
for arg in sys.argv[2:]:
    a, b = (int(x) for x in arg.split(":"))
    b = min(b, size)
    pos, n = a, 0
    while pos < b:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        if start >= b:
            break
        end = min(os.lseek(fd, start, os.SEEK_HOLE), b)
        n += end - start
        pos = end
    print(n)
`;

/**
 * Bytes of each [start, end) of `path` that lie in data extents, or undefined where SEEK_DATA cannot be
 * asked. The extents are summed in python3 as they are found, so memory does not grow with their number
 * (a 4 GiB page array with every other page present has half a million).
 */
export function allocatedBytesIn(
  path: string,
  ranges: ReadonlyArray<readonly [bigint, bigint]>,
  timeoutMs = 60_000,
): Promise<bigint[] | undefined> {
  if (ranges.length === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    execFile(
      "python3",
      ["-c", SUM_SCRIPT, path, ...ranges.map(([a, b]) => `${a}:${b}`)],
      { timeout: timeoutMs },
      (err, stdout) => {
        if (err) return resolve(undefined);
        const lines = stdout.split("\n").filter((l) => l.length > 0);
        if (lines.length !== ranges.length || !lines.every((l) => /^\d+$/.test(l))) return resolve(undefined);
        resolve(lines.map((l) => BigInt(l)));
      },
    );
  });
}

/**
 * The page ranges [first, end) of a RAM image file that may hold data: its data extents (SEEK_DATA),
 * widened to whole pages and merged where they touch, within `numPages`. Every hole is skipped, however
 * short: reading one makes the kernel allocate and zero page cache for it (a 4 GiB image with a page of
 * data every 160 KiB: 0.7 s skipping each hole, 1.6 s reading through those under 1 MiB). Undefined
 * when the file has no holes (every block allocated: nothing to skip, and no python3 is started) or
 * when the kernel cannot say.
 */
export async function pageRangesWithData(
  path: string,
  numPages: number,
  pageSize: number,
): Promise<Array<[number, number]> | undefined> {
  const st = await stat(path, { bigint: true });
  if (st.blocks * 512n >= st.size) return undefined;
  const extents = await dataExtents(path);
  if (extents === undefined) return undefined;
  const page = BigInt(pageSize);
  const ranges: Array<[number, number]> = [];
  for (const [a, b] of extents) {
    const first = Number(a / page);
    const end = Math.min(numPages, Number((b + page - 1n) / page));
    if (first >= end) continue;
    const last = ranges.at(-1);
    if (last !== undefined && first <= last[1]) last[1] = Math.max(last[1], end);
    else ranges.push([first, end]);
  }
  return ranges;
}
