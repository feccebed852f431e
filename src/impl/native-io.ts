// The optional native I/O helper (native/mrc-io.c, built by scripts/build-native.mjs): copies a block's
// set-bit pages between two files on threads of its own (extract), runs a save's bulk pass over a
// block's RAM image on threads of its own, through read-only mappings of it (save), and maps a send's
// windows of a RAM image, finding their zero pages in place, for the send to write from (send). Loaded
// once per thread; absent (not built, or MRC_NATIVE=0), callers do the same in JS with pread and pwrite.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { getSystemErrorMap } from "node:util";

/** How copyPages ended: its status, and result[0]. */
export const COPY_OK = 0;
export const COPY_READ_FAILED = 1;
export const COPY_WRITE_FAILED = 2;
export const COPY_SOURCE_SHORT = 3;

export interface NativeIo {
  /**
   * Copies every set-bit page p of a block (`bitmap` as in the file: bit p is byte p / 8, bit p % 8) from
   * `src` at pagesOffset + p * pageSize to `dst` at p * pageSize, a pread and a pwrite per run, on
   * `threads` threads off the JS thread. The threads take chunks of `chunkPages` pages from control[0]
   * and add the pages they copied to control[1]; the first failure moves control[0] past the last chunk.
   * Then `done(status)`, with `result` = [status, first page of the failed run, errno, offset, bytes of
   * that run]: the offset is the source's for COPY_READ_FAILED, the output's for COPY_WRITE_FAILED, and
   * for COPY_SOURCE_SHORT the bytes of the run the source still had. The arrays must stay untouched
   * until then.
   */
  copyPages(
    src: number,
    dst: number,
    bitmap: Uint8Array,
    numPages: number,
    pagesOffset: number,
    pageSize: number,
    chunkPages: number,
    threads: number,
    control: Int32Array,
    result: Float64Array,
    done: (status: number) => void,
  ): void;
  /**
   * The bulk pass of one block of a save, on `threads` threads off the JS thread: every page named by
   * `chunks` ([first page, pages] pairs, taken by the threads in turn from control[0]) is read from
   * `image` at imageOffset + page * pageSize through a read-only mapping; with `detect`, a zero page has
   * its bit in `bitmap` cleared and is not written, every other page has it set and goes to `dst` at
   * pagesOffset + page * pageSize, one pwrite per run. control[1] counts the pages done. The first
   * failure in file order stops the threads after their current chunk; then `done(status)` with `result`
   * = [status, the failed chunk (-1 if none), errno, offset]: COPY_READ_FAILED with the image offset from
   * the block's page 0, COPY_SOURCE_SHORT with where the image ends (same origin), COPY_WRITE_FAILED
   * with the output offset. The arrays must stay untouched until then.
   */
  savePages(
    image: number,
    imageOffset: number,
    dst: number,
    pagesOffset: number,
    pageSize: number,
    detect: number,
    bitmap: Uint8Array,
    chunks: Float64Array,
    threads: number,
    control: Int32Array,
    result: Float64Array,
    done: (status: number) => void,
  ): void;
  /**
   * The data extents of [from, to) of the file (to clipped to its size), as lseek SEEK_DATA/SEEK_HOLE
   * reports them: [start, end) byte pairs in file order. null when the kernel cannot say, or past
   * `maxExtents`.
   */
  dataExtents(fd: number, from: number, to: number, maxExtents: number): Float64Array | null;
  /**
   * For each [start, end) pair of `ranges` (whole numbers up to 2^53), the bytes of the file in it that
   * lie in data extents (SEEK_DATA/SEEK_HOLE), end clipped to the file's size; null when the kernel
   * cannot say.
   */
  allocatedBytesIn(fd: number, ranges: Float64Array): Float64Array | null;
  /**
   * A window of `flags.length` pages of a RAM image from byte `offset`, read with pread on the calling
   * thread (where mapImagePages maps nothing): page i goes to buf[i * pageSize]; with `detect`,
   * flags[i] = 1 for a zero page, 0 for the others. Returns COPY_OK; COPY_READ_FAILED with `result` =
   * [errno, file offset]; or COPY_SOURCE_SHORT when the image ends first, with `result` = [0, the bytes of
   * the window it has].
   */
  readImagePages(
    fd: number,
    offset: number,
    pageSize: number,
    detect: number,
    buf: Uint8Array,
    flags: Uint8Array,
    result: Float64Array,
  ): number;
  /**
   * The window of flags.length pages of a RAM image from `offset`, mapped read-only, for a send to write
   * to its sockets straight from the mapping: page i at result[0] + i * pageSize of the ArrayBuffer
   * returned; with `detect`, flags[i] = 1 for a zero page, else 0. Null, with nothing mapped, where
   * readImagePages must read the window instead (under 16 pages, not a regular file, an image ending
   * before the window does, a mapping that cannot be made). Mapped until unmapImagePages (or until the
   * ArrayBuffer is collected). JS must not read its bytes itself: copyFromMapping does, under the helper's
   * SIGBUS guard (an image that shrinks under a mapping faults there).
   */
  mapImagePages(
    fd: number,
    offset: number,
    pageSize: number,
    detect: number,
    flags: Uint8Array,
    result: Float64Array,
  ): ArrayBuffer | null;
  /** Unmaps a window of mapImagePages and detaches its ArrayBuffer; false if it was not one, or already. */
  unmapImagePages(buffer: ArrayBuffer): boolean;
  /** The bytes mapImagePages has mapped and not yet unmapped (all threads). */
  mappedImageBytes(): number;
  /** to.set(from) for bytes of a mapImagePages window; false when a page of it is past its file's end now. */
  copyFromMapping(from: Uint8Array, to: Uint8Array): boolean;
}

/** dist/native/mrc-io.node, from dist/impl (built) or src/impl (tests run on the sources). */
function modulePath(): string {
  const here = import.meta.url;
  return fileURLToPath(
    here.endsWith(".ts")
      ? new URL("../../dist/native/mrc-io.node", here)
      : new URL("../native/mrc-io.node", here),
  );
}

let loaded: NativeIo | null | undefined;

/** The helper, or undefined when it was not built or MRC_NATIVE=0 turns it off. */
export function nativeIo(): NativeIo | undefined {
  if (process.env.MRC_NATIVE === "0") return undefined;
  if (loaded === undefined) {
    const path = modulePath();
    loaded = null;
    if (existsSync(path)) {
      try {
        loaded = createRequire(import.meta.url)(path) as NativeIo;
      } catch {
        // a module that does not load (another platform's build) leaves the JS copy
      }
    }
  }
  return loaded ?? undefined;
}

/** An errno as Node words it: code ("ENOSPC") and message ("ENOSPC: no space left on device, write"). */
export function errnoText(errno: number, syscall: string): { code: string; message: string } {
  const entry = getSystemErrorMap().get(-errno);
  const code = entry?.[0] ?? `errno ${errno}`;
  return { code, message: `${code}: ${entry?.[1] ?? "unknown error"}, ${syscall}` };
}
