// A send's reads of a RAM image (migration/ram.c's ram_find_and_save_block over guest RAM, which the
// source looks at in place, its channels writing the pages from there): windows of pages, with which
// pages are zero. With the native helper, a window is mapped read-only, its zero pages are found in place,
// and the send writes the others to its sockets straight from the mapping (mapImagePages), which stays
// until the last packet with pages in it is written. Where a window cannot be mapped (under 16 pages, an
// image shorter than it was), the helper reads it into a buffer with pread (readImagePages); without the
// helper, the window is read with pread and each page compared with a zero page.
import { fstatSync } from "node:fs";
import { TARGET_PAGE_SIZE, TARGET_PAGE_SIZE_N } from "../constants.js";
import { MappedRamError } from "../errors.js";
import { COPY_OK, COPY_READ_FAILED, errnoText, type NativeIo, nativeIo } from "../native-io.js";
import { ioError } from "../output.js";
import { type FileSource, paceSyncIo } from "../source.js";
import { isZeroPage } from "../zero-page.js";

/** Pages per window: eight packets' worth (4 MiB), so one mapping serves eight packets. */
export const WINDOW_PAGES = 1024;

const NO_BYTES = Buffer.alloc(0);

/** A window's pages, which of them are zero, and who still writes from it. */
export interface PageWindow {
  /**
   * page i at i × 4096: a view of `mapped`, or `own` (then a zero page's bytes are not read when zero
   * pages are detected)
   */
  bytes: Buffer;
  /** zero[i] = 1 when page i is all zero (only when detected) */
  zero: Uint8Array;
  /** the reader, and each batch with pages in it until its packet is written */
  users: number;
  /** the image's mapping `bytes` views, and the helper that made it: unmapped when the last user lets go */
  mapped: { buffer: ArrayBuffer; io: NativeIo } | undefined;
  /** the window's buffer for pages read rather than mapped: allocated on first need, then reused */
  own: Buffer | undefined;
}

/**
 * Windows are reused rather than allocated per read: a fresh buffer costs a page fault per page on its
 * first use. `live` counts those taken and not yet given back (by the reader and every batch using one);
 * a window's mapping goes when it is given back.
 */
export class PageWindowPool {
  readonly #free: PageWindow[] = [];
  readonly #taken = new Set<PageWindow>();

  get live(): number {
    return this.#taken.size;
  }

  take(): PageWindow {
    const w = this.#free.pop() ?? {
      bytes: NO_BYTES,
      zero: new Uint8Array(WINDOW_PAGES),
      users: 0,
      mapped: undefined,
      own: undefined,
    };
    w.users = 1;
    this.#taken.add(w);
    return w;
  }

  release(w: PageWindow): void {
    if (--w.users > 0 || !this.#taken.delete(w)) return;
    unmap(w);
    this.#free.push(w);
  }

  /**
   * Unmaps every window still taken, whoever holds it: for the end of a send that failed part way, once
   * nothing writes from its windows any more (a mapping would otherwise stay until it is collected).
   */
  dispose(): void {
    for (const w of this.#taken) unmap(w);
    this.#taken.clear();
  }
}

/** Lets go of the window's mapping, if it has one: its views have no bytes from then on. */
function unmap(w: PageWindow): void {
  if (w.mapped === undefined) return;
  w.mapped.io.unmapImagePages(w.mapped.buffer);
  w.mapped = undefined;
  w.bytes = NO_BYTES;
}

export function imageShorter(idstr: string, at: bigint): MappedRamError {
  return new MappedRamError("ERR_IO", {
    subject: `RAM image of block "${idstr}"`,
    offset: at,
    rule: "became shorter while it was being sent",
    verb: "read",
  });
}

const result = new Float64Array(2);

/**
 * Reads pages [first, first + count) of block `idstr`'s image into `w` (count ≤ WINDOW_PAGES): mapped
 * where it can be, else into the window's own buffer; with `detect`, w.zero says which are zero, else it
 * is all 0. A failed read is ERR_IO naming the image and offset; an image shorter than it was is ERR_IO
 * naming the block and where it now ends.
 */
export async function readPageWindow(
  image: FileSource,
  idstr: string,
  first: number,
  count: number,
  detect: boolean,
  w: PageWindow,
): Promise<void> {
  unmap(w);
  const start = BigInt(first) * TARGET_PAGE_SIZE_N;
  const bytes = count * TARGET_PAGE_SIZE;
  const zero = w.zero.subarray(0, count);
  const io = image.filePath === undefined ? undefined : nativeIo();
  if (io !== undefined) {
    const buffer = io.mapImagePages(image.fd, Number(start), TARGET_PAGE_SIZE, detect ? 1 : 0, zero, result);
    if (buffer !== null) {
      w.mapped = { buffer, io };
      w.bytes = Buffer.from(buffer, result[0] as number, bytes);
      await paceSyncIo(bytes);
      return;
    }
  }
  w.own ??= Buffer.allocUnsafeSlow(WINDOW_PAGES * TARGET_PAGE_SIZE);
  w.bytes = w.own;
  if (io !== undefined) {
    const status = io.readImagePages(
      image.fd,
      Number(start),
      TARGET_PAGE_SIZE,
      detect ? 1 : 0,
      w.own.subarray(0, bytes),
      zero,
      result,
    );
    if (status === COPY_READ_FAILED) {
      const text = errnoText(result[0] as number, "read");
      const cause = Object.assign(new Error(text.message), { code: text.code });
      throw ioError(image.path, BigInt(result[1] as number), cause, undefined, "read");
    }
    if (status !== COPY_OK) throw imageShorter(idstr, start + BigInt(result[1] as number));
    await paceSyncIo(bytes);
    return;
  }
  const into = w.own.subarray(0, bytes);
  const got = await image.readInto(start, into).catch((e: unknown) => {
    throw ioError(image.path, start, e, undefined, "read");
  });
  if (got !== bytes) throw imageShorter(idstr, start + BigInt(got));
  for (let i = 0; i < count; i++) {
    zero[i] = detect && isZeroPage(into.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE)) ? 1 : 0;
  }
}

/**
 * `into.set(from)` for bytes of window `w`. From a mapping, the helper copies them under its SIGBUS guard:
 * an image that shrank under the mapping since is ERR_IO naming the block and where the image now ends.
 */
export function copyWindowBytes(
  w: PageWindow,
  from: Uint8Array,
  into: Uint8Array,
  image: FileSource,
  idstr: string,
): void {
  if (w.mapped === undefined) into.set(from);
  else if (!w.mapped.io.copyFromMapping(from, into))
    throw imageShorter(idstr, fstatSync(image.fd, { bigint: true }).size);
}
