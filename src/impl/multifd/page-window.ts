// A send's reads of a RAM image (migration/ram.c's ram_find_and_save_block over guest RAM, which the
// source looks at in place): windows of pages read into reused buffers, with which pages are zero. With
// the native helper, a window is mapped read-only and only its non-zero pages are copied out
// (readImagePages); without it, the window is read with pread and each page compared with a zero page.
import { TARGET_PAGE_SIZE, TARGET_PAGE_SIZE_N } from "../constants.js";
import { MappedRamError } from "../errors.js";
import { COPY_OK, COPY_READ_FAILED, errnoText, nativeIo } from "../native-io.js";
import { ioError } from "../output.js";
import { type FileSource, paceSyncIo } from "../source.js";
import { isZeroPage } from "../zero-page.js";

/** Pages per window: eight packets' worth (4 MiB), so one mapping serves eight packets. */
export const WINDOW_PAGES = 1024;

/** A window's buffer: its pages, which of them are zero, and who still writes from it. */
export interface PageWindow {
  /** page i at i × 4096 (a zero page's bytes are not read when zero pages are detected) */
  bytes: Buffer;
  /** zero[i] = 1 when page i is all zero (only when detected) */
  zero: Uint8Array;
  /** the reader, and each batch with pages in it until its packet is written */
  users: number;
}

/**
 * Windows are reused rather than allocated per read: a fresh buffer costs a page fault per page on its
 * first use. `live` counts those taken and not yet given back (by the reader and every batch using one).
 */
export class PageWindowPool {
  readonly #free: PageWindow[] = [];
  #live = 0;

  get live(): number {
    return this.#live;
  }

  take(): PageWindow {
    this.#live++;
    // Not zeroed: a read fills every page that is sent, or the send fails.
    const w = this.#free.pop() ?? {
      bytes: Buffer.allocUnsafeSlow(WINDOW_PAGES * TARGET_PAGE_SIZE),
      zero: new Uint8Array(WINDOW_PAGES),
      users: 0,
    };
    w.users = 1;
    return w;
  }

  release(w: PageWindow): void {
    if (--w.users > 0) return;
    this.#live--;
    this.#free.push(w);
  }
}

function imageShorter(idstr: string, at: bigint): MappedRamError {
  return new MappedRamError("ERR_IO", {
    subject: `RAM image of block "${idstr}"`,
    offset: at,
    rule: "became shorter while it was being sent",
    verb: "read",
  });
}

const result = new Float64Array(2);

/**
 * Reads pages [first, first + count) of block `idstr`'s image into `w` (count ≤ WINDOW_PAGES); with
 * `detect`, w.zero says which are zero, else it is all 0. A failed read is ERR_IO naming the image and
 * offset; an image shorter than it was is ERR_IO naming the block and where it now ends.
 */
export async function readPageWindow(
  image: FileSource,
  idstr: string,
  first: number,
  count: number,
  detect: boolean,
  w: PageWindow,
): Promise<void> {
  const start = BigInt(first) * TARGET_PAGE_SIZE_N;
  const bytes = count * TARGET_PAGE_SIZE;
  const zero = w.zero.subarray(0, count);
  const io = image.filePath === undefined ? undefined : nativeIo();
  if (io !== undefined) {
    const status = io.readImagePages(
      image.fd,
      Number(start),
      TARGET_PAGE_SIZE,
      detect ? 1 : 0,
      w.bytes.subarray(0, bytes),
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
  const into = w.bytes.subarray(0, bytes);
  const got = await image.readInto(start, into).catch((e: unknown) => {
    throw ioError(image.path, start, e, undefined, "read");
  });
  if (got !== bytes) throw imageShorter(idstr, start + BigInt(got));
  for (let i = 0; i < count; i++) {
    zero[i] = detect && isZeroPage(into.subarray(i * TARGET_PAGE_SIZE, (i + 1) * TARGET_PAGE_SIZE)) ? 1 : 0;
  }
}
