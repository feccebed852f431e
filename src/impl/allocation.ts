// Which byte ranges of a file hold data (not holes): lseek(SEEK_DATA/SEEK_HOLE). Node has no lseek, so
// the native helper asks the kernel (native/mrc-io.c), or without it python3's os.lseek does; where
// neither can (or the filesystem does not report holes), the answer is undefined and callers say
// "unknown". dataExtents, which lists every extent, always asks python3 (the tests' reference).
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { stat } from "node:fs/promises";
import { nativeIo } from "./native-io.js";

/** [start, end) data extents in file order. */
export type DataExtents = Array<[bigint, bigint]>;

/**
 * The start of every python3 script here: the file (argv[1]) opened, its size, and extents(fd, pos,
 * stop), the one SEEK_DATA/SEEK_HOLE walk: the [start, end) data extents from pos, clipped at stop.
 */
const EXTENTS_PRELUDE = `
import os, sys
def extents(fd, pos, stop):
    while pos < stop:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            return
        if start >= stop:
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), stop)
        yield start, end
        pos = end
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
`;

const SCRIPT = `${EXTENTS_PRELUDE}
print("\\n".join("%d %d" % e for e in extents(fd, 0, size)))
`;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** `fn` of a read-only descriptor of `path`; undefined when it cannot be opened (the caller's reads say
 * why). */
function withDescriptor<T>(path: string, fn: (fd: number) => T | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

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

const SUM_SCRIPT = `${EXTENTS_PRELUDE}
for arg in sys.argv[2:]:
    a, b = (int(x) for x in arg.split(":"))
    print(sum(end - start for start, end in extents(fd, a, min(b, size))))
`;

/**
 * Bytes of each [start, end) of `path` that lie in data extents, or undefined where SEEK_DATA cannot be
 * asked. The native helper asks the kernel itself; without it python3 does (~30 ms to start). The
 * extents are summed as they are found, so memory does not grow with their number (a 4 GiB page array
 * with every other page present has half a million).
 */
export function allocatedBytesIn(
  path: string,
  ranges: ReadonlyArray<readonly [bigint, bigint]>,
  timeoutMs = 60_000,
): Promise<bigint[] | undefined> {
  if (ranges.length === 0) return Promise.resolve([]);
  const io = nativeIo();
  if (io !== undefined && ranges.every(([a, b]) => a <= MAX_SAFE && b <= MAX_SAFE)) {
    return Promise.resolve(
      withDescriptor(path, (fd) => {
        const sums = io.allocatedBytesIn(
          fd,
          Float64Array.from(ranges.flatMap(([a, b]) => [Number(a), Number(b)])),
        );
        return sums === null ? undefined : Array.from(sums, (n) => BigInt(n));
      }),
    );
  }
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

const PAGE_RANGES_SCRIPT = `${EXTENTS_PRELUDE}
page, num, base = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
first, end = -1, -1
for start, stop in extents(fd, base, min(size, base + num * page)):
    a, b = (start - base) // page, min(num, -(-(stop - base) // page))
    if a < b:
        if first >= 0 and a <= end:
            end = max(end, b)
        else:
            if first >= 0:
                sys.stdout.write("%d %d\\n" % (first, end))
            first, end = a, b
if first >= 0:
    sys.stdout.write("%d %d\\n" % (first, end))
`;

/**
 * Below this, a RAM image or page array is read whole even when sparse: asking python3 for its holes
 * costs ~30 ms (the native helper, microseconds; the same size keeps what is read the same either way).
 */
const HOLE_SCAN_MIN_BYTES = 64 * 1024 * 1024;

/** Page ranges as flat pairs: range i is [ranges[2i], ranges[2i + 1]). */
export type PageRanges = Float64Array;

/**
 * Byte extents ([start, end) pairs, in file order) as the pages they touch, page p at base + p ×
 * pageSize: widened to whole pages, merged where they touch, clipped to numPages.
 */
function pageRangesOf(extents: Float64Array, base: number, pageSize: number, numPages: number): PageRanges {
  const out = new Float64Array(extents.length);
  let n = 0;
  for (let i = 0; i < extents.length; i += 2) {
    const a = Math.floor(((extents[i] as number) - base) / pageSize);
    const b = Math.min(numPages, Math.ceil(((extents[i + 1] as number) - base) / pageSize));
    if (a < b) n = appendMerged(out, n, a, b);
  }
  return out.slice(0, n);
}

/**
 * Appends [start, end) to the first `n` numbers of `out` ([start, end) pairs, ascending by start),
 * merged into the last pair when it reaches that far; returns the new count of numbers.
 */
function appendMerged(out: Float64Array, n: number, start: number, end: number): number {
  if (n > 0 && start <= (out[n - 1] as number)) {
    out[n - 1] = Math.max(out[n - 1] as number, end);
    return n;
  }
  out[n] = start;
  out[n + 1] = end;
  return n + 2;
}

/**
 * The byte ranges of [0, to) where either file (two descriptors) holds data ([start, end) pairs,
 * ascending, merged): what a comparison of the two must read, since where both have a hole both read as
 * zeros. From the native helper; undefined without it, when the kernel cannot say for either, or past
 * MAX_EXTENTS.
 */
export function dataInEither(fdA: number, fdB: number, to: number): Float64Array | undefined {
  const io = nativeIo();
  if (io === undefined) return undefined;
  const a = io.dataExtents(fdA, 0, to, MAX_EXTENTS);
  const b = a && io.dataExtents(fdB, 0, to, MAX_EXTENTS);
  if (!a || !b) return undefined;
  const out = new Float64Array(a.length + b.length);
  let n = 0;
  for (let i = 0, j = 0; i < a.length || j < b.length; ) {
    // the next extent of either, by start
    const fromA = j >= b.length || (i < a.length && (a[i] as number) <= (b[j] as number));
    const start = (fromA ? a[i] : b[j]) as number;
    const end = (fromA ? a[i + 1] : b[j + 1]) as number;
    if (fromA) i += 2;
    else j += 2;
    n = appendMerged(out, n, start, end);
  }
  return out.slice(0, n);
}

/**
 * The page ranges [first, end) of a RAM image that may hold data, page p at `base` + p × pageSize of the
 * file at `path` (base 0: a RAM image file; else a page array inside a migration file): its data extents
 * (SEEK_DATA), widened to whole pages and merged where they touch, within `numPages`. Every hole is
 * skipped, however short: reading one makes the kernel allocate and zero page cache for it (a 4 GiB
 * image with a page of data every 160 KiB: 0.7 s skipping each hole, 1.6 s reading through those under
 * 1 MiB). Undefined when the file has no holes (every block allocated: nothing to skip, and no python3
 * is started), when the kernel cannot say, or past MAX_EXTENTS ranges. The native helper asks the kernel
 * itself (µs an extent); without it python3 does (~30 ms to start), widening and merging the extents,
 * and node reads its lines as they come into flat pairs. Memory is 16 bytes a range either way (a
 * 4 GiB image with every other page a hole has half a million).
 */
export async function pageRangesWithData(
  path: string,
  numPages: number,
  pageSize: number,
  base = 0,
  timeoutMs = 30_000,
): Promise<PageRanges | undefined> {
  const st = await stat(path, { bigint: true });
  if (st.blocks * 512n >= st.size) return undefined;
  const io = nativeIo();
  if (io !== undefined) {
    const extents = withDescriptor(path, (fd) =>
      io.dataExtents(fd, base, base + numPages * pageSize, MAX_EXTENTS),
    );
    return extents ? pageRangesOf(extents, base, pageSize, numPages) : undefined;
  }
  return new Promise((resolve) => {
    const args = [path, String(pageSize), String(numPages), String(base)];
    const child = spawn("python3", ["-c", PAGE_RANGES_SCRIPT, ...args], {
      stdio: ["ignore", "pipe", "ignore"],
      timeout: timeoutMs,
    });
    let pairs = new Float64Array(1024);
    let count = 0;
    let partial = "";
    let bad = false;
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (chunk: string) => {
      if (bad) return;
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const [a, b] = line.split(" ").map(Number);
        if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || count === MAX_EXTENTS) {
          bad = true;
          child.kill();
          return;
        }
        if (count * 2 + 2 > pairs.length) {
          const grown = new Float64Array(pairs.length * 2);
          grown.set(pairs);
          pairs = grown;
        }
        pairs[count * 2] = a as number;
        pairs[count * 2 + 1] = b as number;
        count++;
      }
    });
    child.on("error", () => resolve(undefined));
    child.on("close", (code) => {
      if (bad || code !== 0 || partial !== "") resolve(undefined);
      else resolve(pairs.slice(0, count * 2));
    });
  });
}

/**
 * The page ranges a reader of a RAM image must read, page p at `base` + p × pageSize of the file at
 * `path`: with HOLE_SCAN_MIN_BYTES or more of pages, those that may hold data (pageRangesWithData);
 * otherwise, or when that is unknown, all of them.
 */
export async function pageRangesToRead(
  path: string,
  numPages: number,
  pageSize: number,
  base = 0,
): Promise<PageRanges> {
  const withData =
    numPages * pageSize >= HOLE_SCAN_MIN_BYTES
      ? await pageRangesWithData(path, numPages, pageSize, base)
      : undefined;
  return withData ?? Float64Array.of(0, numPages);
}
