// migration/ram.c: read_ramblock_mapped_ram (and ram_load_precopy for ordinary streams) — rebuilds
// each RAM block. Clear-bit pages are zeros whatever the page array holds; runs of set bits are read
// in chunks of at most MAPPED_RAM_LOAD_BUF_SIZE. Outputs are temp files renamed only on success.
import { access, mkdir, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { PageBitmap } from "./bitmap.js";
import { hex, latin1, toSafeNumber } from "./bytes.js";
import { TARGET_PAGE_SIZE, TARGET_PAGE_SIZE_N } from "./constants.js";
import { MappedRamError } from "./errors.js";
import { copyBlockPages, copyBlockPagesOnThreads, newCopyBuffer } from "./extract-copy.js";
import {
  EXTRACT_CHUNK_PAGES,
  EXTRACT_CONTROL_BYTES,
  EXTRACT_PAGES_DONE,
  type ExtractJob,
  type ExtractReply,
} from "./extract-protocol.js";
import { type NativeIo, nativeIo } from "./native-io.js";
import { ioError, OutputFile } from "./output.js";
import type { ParsedRamBlock } from "./ram-load.js";
import { type ParsedStream, parseStream, type ReadOptions } from "./reader.js";
import { FileSource, MAX_STRUCTURE_READ, type RandomAccessSource } from "./source.js";

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Longest file name most filesystems take (NAME_MAX). */
const NAME_MAX = 255;

/**
 * Builtins only some extracts need (a 255-byte idstr's digest, worker threads without the native
 * helper), loaded when they do: node:crypto and node:worker_threads take ~3.5 ms of start-up together.
 */
const requireBuiltin = createRequire(import.meta.url);

/**
 * `DIR/<idstr, every character outside [A-Za-z0-9._-] replaced by _>.bin`. An idstr may be 255 bytes,
 * which with ".bin" is over NAME_MAX: such names keep their first 234 characters, then "~" and the
 * first 16 hex digits of the sha256 of the idstr, so they stay unique and within NAME_MAX.
 */
export function blockFileName(idstr: string): string {
  const safe = idstr.replace(/[^A-Za-z0-9._-]/g, "_");
  if (safe.length + 4 <= NAME_MAX) return `${safe}.bin`;
  const { createHash } = requireBuiltin("node:crypto") as typeof import("node:crypto");
  const digest = createHash("sha256").update(latin1(idstr)).digest("hex").slice(0, 16);
  return `${safe.slice(0, NAME_MAX - 4 - 17)}~${digest}.bin`;
}

/** Reads a mapped-ram block's bitmap (validated to lie inside the file by the reader). */
export async function readBlockBitmap(src: RandomAccessSource, block: ParsedRamBlock): Promise<PageBitmap> {
  const mr = block.mappedRam;
  if (!mr) throw new RangeError(`block "${block.idstr}" is not a mapped-ram block`);
  // an ignored block (x-ignore-shared, QEMU 11.0+) has no pages in the file
  if (mr.ignored) return new PageBitmap(toSafeNumber(block.numPages, "page count"));
  const size = toSafeNumber(mr.bitmapSize, "bitmap size");
  const bytes = new Uint8Array(size);
  for (let done = 0; done < size; done += MAX_STRUCTURE_READ) {
    const n = Math.min(MAX_STRUCTURE_READ, size - done);
    bytes.set(await src.read(mr.bitmapOffset + BigInt(done), n, `bitmap of ramblock "${block.idstr}"`), done);
  }
  return new PageBitmap(toSafeNumber(block.numPages, "page count"), bytes);
}

/** Checks that every set bit's page lies inside the file, before anything is written. */
export function checkRunsInFile(src: RandomAccessSource, block: ParsedRamBlock, bitmap: PageBitmap): void {
  const mr = block.mappedRam;
  if (!mr) return;
  // pages [0, fits) lie whole inside the file; the first set bit at or past fits is the first that does not
  const fits = src.size > mr.pagesOffset ? (src.size - mr.pagesOffset) / TARGET_PAGE_SIZE_N : 0n;
  if (fits >= BigInt(bitmap.numPages)) return;
  const page = bitmap.nextSet(Number(fits));
  if (page < 0) return;
  const at = mr.pagesOffset + BigInt(page) * TARGET_PAGE_SIZE_N;
  throw new MappedRamError("ERR_TRUNCATED", {
    subject: `ramblock "${block.idstr}"`,
    offset: at,
    field: "pages",
    rule: `page ${hex(BigInt(page) * TARGET_PAGE_SIZE_N)} has its bit set but lies past the end of the file (${hex(src.size)})`,
    bytesRequested: TARGET_PAGE_SIZE_N,
    bytesAvailable: src.size > at ? src.size - at : 0n,
  });
}

export interface ExtractedBlock {
  idstr: string;
  file: string;
  usedLength: bigint;
  pagesPresent: number;
}

export interface ExtractResult {
  stream: ParsedStream;
  blocks: ExtractedBlock[];
  /** blocks ignored under x-ignore-shared (QEMU 11.0+): their RAM is not in the file, no file is written */
  ignored: string[];
}

class PendingOutputs {
  private readonly files = new Map<
    string,
    { tmp: string; final: string; out: OutputFile; block: ParsedRamBlock }
  >();
  constructor(
    private readonly dir: string,
    private readonly force: boolean,
  ) {}

  async get(block: ParsedRamBlock): Promise<OutputFile> {
    const have = this.files.get(block.idstr);
    if (have) return have.out;
    const final = join(this.dir, blockFileName(block.idstr));
    for (const f of this.files.values()) {
      if (f.final === final) {
        throw new MappedRamError("ERR_INVALID_VALUE", {
          subject: `ramblock "${block.idstr}"`,
          offset: block.recordOffset,
          field: "idstr",
          rule: `maps to the same output file as ramblock "${f.block.idstr}"`,
        });
      }
    }
    const tmp = join(this.dir, `.mrc-extract-${process.pid}-${this.files.size}.partial`);
    const out = await OutputFile.create(tmp, 0n, final);
    this.files.set(block.idstr, { tmp, final, out, block });
    return out;
  }

  /** Sizes every output to used_length (sparse), closes and renames them. */
  async commit(blocks: readonly ParsedRamBlock[]): Promise<ExtractedBlock[]> {
    for (const b of blocks) await this.get(b);
    const result: ExtractedBlock[] = [];
    for (const f of this.files.values()) {
      await f.out.truncate(f.block.usedLength);
      await f.out.close();
    }
    if (!this.force) {
      for (const f of this.files.values()) {
        if (await exists(f.final)) {
          throw new MappedRamError("ERR_IO", {
            subject: `output "${f.final}"`,
            rule: "already exists (use --force to replace it)",
            verb: "write",
          });
        }
      }
    }
    for (const f of this.files.values()) {
      await rename(f.tmp, f.final);
      result.push({ idstr: f.block.idstr, file: f.final, usedLength: f.block.usedLength, pagesPresent: 0 });
    }
    this.files.clear();
    return result;
  }

  async abort(): Promise<void> {
    for (const f of this.files.values()) {
      await f.out.close().catch(() => undefined);
      await rm(f.tmp, { force: true });
    }
    this.files.clear();
  }
}

/**
 * Without the native helper: below this many page bytes a file is copied on the calling thread
 * (starting worker threads costs more). The helper's own threads start in microseconds: every file.
 */
export const PARALLEL_EXTRACT_MIN_BYTES = 64n * 1024n * 1024n;
/**
 * Loader channels of a parallel extract, the calling thread among them: one per core, at least 2
 * (reads and writes overlap), at most 4.
 */
const EXTRACT_CHANNELS = Math.min(4, Math.max(2, availableParallelism()));

/** How long the calling thread copies before it lets the event loop run (progress, replies). */
const COPY_SLICE_MS = 20;

/** The compiled worker: next to this module in dist/, or dist/'s copy when run from sources. */
function extractWorkerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith(".ts")) return new URL("../../dist/impl/extract-worker.js", here);
  return new URL("./extract-worker.js", here);
}

function runJob(worker: Worker, job: ExtractJob): Promise<ExtractReply> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    const onMessage = (r: ExtractReply) => {
      settle();
      resolve(r);
    };
    const onError = (e: Error) => {
      settle();
      reject(e);
    };
    const onExit = (code: number) => onError(new Error(`extract channel exited (code ${code})`));
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    worker.postMessage(job);
  });
}

/** A run of pages that read short: the file ended (or shrank) before `want` bytes from `page`. */
function shortRead(block: ParsedRamBlock, page: number, got: number, want: number): MappedRamError {
  const mr = block.mappedRam as NonNullable<ParsedRamBlock["mappedRam"]>;
  const from = mr.pagesOffset + BigInt(page) * TARGET_PAGE_SIZE_N;
  return new MappedRamError("ERR_TRUNCATED", {
    subject: `ramblock "${block.idstr}"`,
    offset: from + BigInt(got),
    field: "pages",
    rule: `failed to read page ${hex(BigInt(page) * TARGET_PAGE_SIZE_N)} from file offset ${hex(from)}: partial read of ${got} bytes, expected ${want}`,
  });
}

/** The error a copy's failure reply stands for. */
function replyError(
  r: Exclude<ExtractReply, { ok: true }>,
  block: ParsedRamBlock,
  output: OutputFile,
): Error {
  switch (r.kind) {
    case "short":
      return shortRead(block, r.page, r.got, r.want);
    case "write":
      return ioError(
        output.path,
        BigInt(r.position),
        Object.assign(new Error(r.message), { code: r.code }),
        output.finalPath,
      );
    default:
      return Object.assign(new Error(r.message), { code: r.code });
  }
}

/** A block to copy: its bitmap as read from the file, and its block file. */
interface BlockCopy {
  block: ParsedRamBlock;
  bitmap: PageBitmap;
  out: OutputFile;
}

/** The job of copying the `i`-th block, with a fresh control (shared, for threads). */
function blockJob(src: FileSource, i: number, { block, bitmap, out }: BlockCopy): ExtractJob {
  const mr = block.mappedRam as NonNullable<ParsedRamBlock["mappedRam"]>;
  const bits = new SharedArrayBuffer(bitmap.bytes.length);
  new Uint8Array(bits).set(bitmap.bytes);
  return {
    id: i,
    source: src.path,
    output: out.path,
    pagesOffset: toSafeNumber(mr.pagesOffset, "pages_offset"),
    numPages: bitmap.numPages,
    bitmap: bits,
    control: new SharedArrayBuffer(EXTRACT_CONTROL_BYTES),
  };
}

/**
 * Progress of block jobs copied on other threads: the pages their channels have counted in the jobs'
 * controls, reported every 100 ms while they run (the copying threads never call back).
 */
class JobProgress {
  private readonly controls: Int32Array[] = [];
  private readonly timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly total: bigint,
    private readonly onProgress: ((done: bigint, total: bigint) => void) | undefined,
  ) {
    this.timer = onProgress ? setInterval(() => this.report(), 100) : undefined;
  }

  /** Counts `job`'s pages from now on. */
  track(job: ExtractJob): void {
    this.controls.push(new Int32Array(job.control));
  }

  /** Reports the bytes copied so far. */
  report(): void {
    const pages = this.controls.reduce((s, c) => s + BigInt(Atomics.load(c, EXTRACT_PAGES_DONE)), 0n);
    this.onProgress?.(pages * TARGET_PAGE_SIZE_N, this.total);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Copies the set-bit pages of the blocks with EXTRACT_CHANNELS loader channels, like QEMU's multifd
 * load: the calling thread and EXTRACT_CHANNELS − 1 worker threads, each with its own descriptors,
 * take 1 MiB chunks of a block from a shared counter. The calling thread starts at once (workers take
 * tens of ms to come online) and copies in slices of COPY_SLICE_MS, so progress and replies still run.
 */
async function copyPagesInParallel(
  src: FileSource,
  blocks: readonly BlockCopy[],
  total: bigint,
  onProgress: ((done: bigint, total: bigint) => void) | undefined,
): Promise<void> {
  const { Worker } = requireBuiltin("node:worker_threads") as typeof import("node:worker_threads");
  const workers = Array.from({ length: EXTRACT_CHANNELS - 1 }, () => new Worker(extractWorkerUrl()));
  const progress = new JobProgress(total, onProgress);
  const buf = newCopyBuffer();
  try {
    for (const [i, copy] of blocks.entries()) {
      const job = blockJob(src, i, copy);
      progress.track(job);
      const replies = workers.map((w) => runJob(w, job));
      let mine: ExtractReply;
      for (;;) {
        const until = performance.now() + COPY_SLICE_MS;
        mine = copyBlockPages(job, buf, () => performance.now() >= until);
        if (!mine.ok || !mine.paused) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      // a failed channel leaves no chunk to take (copyBlockPages): the others stop after their current one
      const theirs = await Promise.all(replies);
      for (const r of [mine, ...theirs]) if (!r.ok) throw replyError(r, copy.block, copy.out);
    }
    progress.report();
  } finally {
    progress.stop();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Copies the set-bit pages with the native helper's threads (copyBlockPagesOnThreads), one block after
 * another: EXTRACT_CHANNELS of them, started in microseconds where a worker thread takes tens of ms, so
 * every size of file gets them. The JS thread only waits, reporting progress from the shared count.
 */
async function copyPagesOnNativeThreads(
  src: FileSource,
  blocks: readonly BlockCopy[],
  total: bigint,
  onProgress: ((done: bigint, total: bigint) => void) | undefined,
  io: NativeIo,
): Promise<void> {
  const progress = new JobProgress(total, onProgress);
  try {
    for (const [i, copy] of blocks.entries()) {
      const job = blockJob(src, i, copy);
      progress.track(job);
      const r = await copyBlockPagesOnThreads(job, EXTRACT_CHANNELS, io);
      if (!r.ok) throw replyError(r, copy.block, copy.out);
    }
    progress.report();
  } finally {
    progress.stop();
  }
}

/**
 * Copies the set-bit pages on the calling thread with the loader threads' synchronous copy: below
 * PARALLEL_EXTRACT_MIN_BYTES starting threads costs more than it saves.
 */
function copyPagesHere(
  src: FileSource,
  blocks: readonly BlockCopy[],
  total: bigint,
  onProgress: ((done: bigint, total: bigint) => void) | undefined,
): void {
  const buf = newCopyBuffer();
  for (const [i, copy] of blocks.entries()) {
    const r = copyBlockPages(blockJob(src, i, copy), buf);
    if (!r.ok) throw replyError(r, copy.block, copy.out);
  }
  onProgress?.(total, total);
}

/** Copies the set-bit pages from a source that is not a file (the library's in-memory sources). */
async function copyPagesFrom(
  src: RandomAccessSource,
  blocks: readonly BlockCopy[],
  total: bigint,
  onProgress: ((done: bigint, total: bigint) => void) | undefined,
): Promise<void> {
  const buf = newCopyBuffer();
  let done = 0n;
  for (const { block, bitmap, out } of blocks) {
    const mr = block.mappedRam as NonNullable<ParsedRamBlock["mappedRam"]>;
    for (const [first, end] of bitmap.setRuns()) {
      for (let p = first; p < end; p += EXTRACT_CHUNK_PAGES) {
        const n = Math.min(end - p, EXTRACT_CHUNK_PAGES) * TARGET_PAGE_SIZE;
        const chunk = buf.subarray(0, n);
        const from = mr.pagesOffset + BigInt(p) * TARGET_PAGE_SIZE_N;
        const got = await src.readInto(from, chunk);
        if (got !== n) throw shortRead(block, p, got, n);
        await out.writeAt(chunk, BigInt(p) * TARGET_PAGE_SIZE_N);
        done += BigInt(n);
        onProgress?.(done, total);
      }
    }
  }
}

/**
 * Extracts every RAM block of the stream into `dir` (created if missing), one file per block.
 * Refused input leaves no block file behind.
 */
export async function extractBlocks(
  src: RandomAccessSource,
  dir: string,
  opts: ReadOptions & {
    force?: boolean;
    /** bytes done / total: page bytes copied (mapped-ram) or stream bytes read (ordinary streams) */
    onProgress?: (done: bigint, total: bigint) => void;
  } = {},
): Promise<ExtractResult> {
  await mkdir(dir, { recursive: true });
  const pending = new PendingOutputs(dir, opts.force ?? false);
  const present = new Map<string, number>();
  const written = new Map<string, PageBitmap>();
  try {
    const stream = await parseStream(src, {
      ...opts,
      onInlinePage: async (p) => {
        opts.onProgress?.(p.offset - (opts.offset ?? 0n), src.size - (opts.offset ?? 0n));
        const out = await pending.get(p.block);
        // pages holding bytes so far: a later ZERO record (a page found zero in a later round) must clear them
        let held = written.get(p.block.idstr);
        if (!held) {
          held = new PageBitmap(toSafeNumber(p.block.numPages, "page count"));
          written.set(p.block.idstr, held);
        }
        const page = toSafeNumber(p.address / TARGET_PAGE_SIZE_N, "page index");
        if (p.data) {
          await out.writeAt(p.data, p.address);
          held.set(page);
          present.set(p.block.idstr, (present.get(p.block.idstr) ?? 0) + 1);
        } else if (p.zeroFill !== undefined && (p.zeroFill !== 0 || held.get(page))) {
          // ram_handle_zero: memset unless the page is already all zero
          await out.writeAt(new Uint8Array(TARGET_PAGE_SIZE).fill(p.zeroFill), p.address);
          if (p.zeroFill !== 0) held.set(page);
          else held.clear(page);
        }
      },
    });
    if (stream.ramBlocks.length === 0) {
      // QEMU refuses such a stream (no configuration, or no RAM section): there is nothing to load
      throw new MappedRamError("ERR_UNEXPECTED_RECORD", {
        subject: "migration stream",
        offset: stream.offset,
        rule: "has no RAM blocks: nothing to extract",
      });
    }
    if (stream.mappedRam) {
      const bitmaps: PageBitmap[] = [];
      for (const b of stream.ramBlocks) {
        const bm = await readBlockBitmap(src, b);
        checkRunsInFile(src, b, bm);
        bitmaps.push(bm);
      }
      const copies: BlockCopy[] = [];
      let pages = 0;
      for (const [i, block] of stream.ramBlocks.entries()) {
        if (block.mappedRam?.ignored) continue;
        const bitmap = bitmaps[i] as PageBitmap;
        copies.push({ block, bitmap, out: await pending.get(block) });
        const count = bitmap.count();
        present.set(block.idstr, count);
        pages += count;
      }
      const total = BigInt(pages) * TARGET_PAGE_SIZE_N;
      const io = nativeIo();
      if (!(src instanceof FileSource)) await copyPagesFrom(src, copies, total, opts.onProgress);
      else if (io) await copyPagesOnNativeThreads(src, copies, total, opts.onProgress, io);
      else if (total >= PARALLEL_EXTRACT_MIN_BYTES)
        await copyPagesInParallel(src, copies, total, opts.onProgress);
      else copyPagesHere(src, copies, total, opts.onProgress);
    }
    const ignored = stream.ramBlocks.filter((b) => b.mappedRam?.ignored).map((b) => b.idstr);
    const blocks = await pending.commit(stream.ramBlocks.filter((b) => !b.mappedRam?.ignored));
    for (const b of blocks) b.pagesPresent = present.get(b.idstr) ?? 0;
    return { stream, blocks, ignored };
  } catch (e) {
    await pending.abort();
    throw e;
  }
}
