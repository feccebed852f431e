// The optional native I/O helper (native/mrc-io.c, built by scripts/build-native.mjs): copies a block's
// set-bit pages between two files on threads of its own (extract), and maps windows of a RAM image
// read-only to check and write its pages without copying them into a buffer (save). Loaded once per
// thread; absent (not built, or MRC_NATIVE=0), callers do the same in JS with pread and pwrite.
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
  /** The host's page size: mapImage offsets are multiples of it. */
  readonly pageSize: number;
  /**
   * Maps [offset, offset + length) of the file read-only and populated. Throws with `code` the errno in
   * decimal (callers fall back to pread, which names the error as Node does).
   */
  mapImage(fd: number, offset: number, length: number): ArrayBuffer;
  /** Unmaps a mapImage buffer and detaches it (byteLength 0 after); a detached one is left alone. */
  unmap(buffer: ArrayBuffer): void;
  /**
   * out[i] = 1 when the `pageSize` bytes at byteOffset + i * pageSize of `buffer` are all zero, else 0.
   * Returns how many are zero, or -1 when a page is past the end of the mapped file (it shrank: SIGBUS,
   * caught).
   */
  zeroPages(
    buffer: ArrayBuffer,
    byteOffset: number,
    pages: number,
    pageSize: number,
    out: Uint8Array,
  ): number;
  /**
   * Copies `length` bytes at byteOffset of a mapImage buffer to dest[destOffset, …). Returns 0, or -1
   * when a page is past the end of the mapped file (it shrank: SIGBUS, caught).
   */
  copyOut(
    buffer: ArrayBuffer,
    byteOffset: number,
    length: number,
    dest: Uint8Array,
    destOffset: number,
  ): number;
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
