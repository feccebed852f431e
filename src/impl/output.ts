// The output side of `file:` transport (migration/file.c, io/channel-file.c): one descriptor per
// channel on the same path, positional writes only. Node's Buffer/fs live here, at the I/O edge.
import { constants, writeSync, writevSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { basename } from "node:path";
import { toSafeNumber } from "./bytes.js";
import { MappedRamError } from "./errors.js";
import { paceSyncIo } from "./source.js";

export class OutputFile {
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    /** a regular file: positional writes are synchronous syscalls (see paceSyncIo) */
    private readonly regular: boolean,
    /** the file the caller will rename this one to, named in errors */
    readonly finalPath?: string,
  ) {}

  /**
   * Opens like file_start_outgoing_migration: O_CREAT|O_WRONLY, mode 0600, then ftruncate(offset)
   * (bytes before the offset are kept, anything after is dropped). A regular file that already has
   * exactly `offset` bytes (a new file, or a prefix just copied) is left as it is: the truncate would
   * change no byte, and on ext4 a truncate to 0 makes the last close start writeback of the whole
   * file (auto_da_alloc), which the caller would then wait for.
   */
  static async create(path: string, offset: bigint, finalPath?: string): Promise<OutputFile> {
    const fh = await open(path, constants.O_CREAT | constants.O_WRONLY, 0o600);
    let regular = false;
    try {
      const st = await fh.stat({ bigint: true });
      regular = st.isFile();
      if (!regular || st.size !== offset) await fh.truncate(toSafeNumber(offset, "file offset"));
    } catch (e) {
      await fh.close();
      throw ioError(path, offset, e, finalPath);
    }
    return new OutputFile(fh, path, regular, finalPath);
  }

  /** Another descriptor on the same file, as each multifd channel opens (O_WRONLY, no O_CREAT/O_TRUNC). */
  static async reopen(path: string): Promise<OutputFile> {
    const fh = await open(path, constants.O_WRONLY);
    try {
      return new OutputFile(fh, path, (await fh.stat()).isFile());
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** pwrite all of `data` at `position`. */
  async writeAt(data: Uint8Array, position: bigint): Promise<void> {
    let done = 0;
    const base = toSafeNumber(position, "file offset");
    if (this.regular) {
      const fd = this.fh.fd;
      try {
        while (done < data.length) {
          const n = writeSync(fd, data, done, data.length - done, base + done);
          if (n === 0) throw new Error("write returned 0 bytes");
          done += n;
        }
      } catch (e) {
        throw ioError(this.path, position + BigInt(done), e, this.finalPath);
      }
      await paceSyncIo(done);
      return;
    }
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, base + done);
        if (bytesWritten === 0) throw new Error("write returned 0 bytes");
        done += bytesWritten;
      }
    } catch (e) {
      throw ioError(this.path, position + BigInt(done), e, this.finalPath);
    }
  }

  /** pwritev: several buffers at consecutive positions starting at `position`. */
  async writevAt(buffers: Uint8Array[], position: bigint): Promise<void> {
    if (buffers.length === 1) return this.writeAt(buffers[0] as Uint8Array, position);
    let total = 0;
    for (const b of buffers) total += b.length;
    try {
      const at = toSafeNumber(position, "file offset");
      const bytesWritten = this.regular
        ? writevSync(this.fh.fd, buffers, at)
        : (await this.fh.writev(buffers, at)).bytesWritten;
      if (this.regular) await paceSyncIo(bytesWritten);
      if (bytesWritten === total) return;
    } catch (e) {
      throw ioError(this.path, position, e, this.finalPath);
    }
    // short vectored write: finish buffer by buffer
    let at = position;
    for (const b of buffers) {
      await this.writeAt(b, at);
      at += BigInt(b.length);
    }
  }

  /** ftruncate to `size` bytes (extends with a hole). */
  async truncate(size: bigint): Promise<void> {
    try {
      await this.fh.truncate(toSafeNumber(size, "file size"));
    } catch (e) {
      throw ioError(this.path, size, e, this.finalPath);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/**
 * An I/O error writing (or `verb`) `path`, with the errno code once (`EFBIG: file too large, write`).
 * With `finalPath`, `path` is a temp file that would have been renamed to it: the error names the file
 * the user asked for.
 */
export function ioError(
  path: string,
  offset: bigint | undefined,
  e: unknown,
  finalPath?: string,
  verb = "write",
): MappedRamError {
  const err = e as NodeJS.ErrnoException;
  const message = err?.message ?? String(e);
  const code = err?.code ?? "I/O error";
  return new MappedRamError("ERR_IO", {
    subject:
      finalPath === undefined ? `file "${path}"` : `file "${finalPath}" (written as "${basename(path)}")`,
    offset,
    rule: message.startsWith(`${code}:`) ? message : `${code}: ${message}`,
    verb,
    cause: e,
  });
}
