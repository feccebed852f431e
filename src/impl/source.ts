// Random-access input: a size and positional reads. Core code never reads a whole file.
import { readSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { hex, toSafeNumber, u32beAt, u64beAt } from "./bytes.js";
import { MappedRamError, truncated } from "./errors.js";

export interface RandomAccessSource {
  /** total size in bytes */
  readonly size: bigint;
  /** Reads exactly `length` bytes at `offset`; throws ERR_TRUNCATED when the source is shorter. */
  read(offset: bigint, length: number, subject?: string): Promise<Uint8Array>;
  /** Reads into `into` at `offset`; returns bytes read (may be short at end of file). */
  readInto(offset: bigint, into: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/** Largest single read we do for a structure; bigger reads are chunked by the caller. */
export const MAX_STRUCTURE_READ = 64 * 1024 * 1024;

function checkRange(size: bigint, offset: bigint, length: number, subject: string): void {
  if (length < 0 || length > MAX_STRUCTURE_READ) {
    throw new MappedRamError("ERR_TOO_LARGE", {
      subject,
      offset,
      rule: `a read of ${length} bytes is over the limit of ${MAX_STRUCTURE_READ}`,
    });
  }
  if (offset < 0n || offset + BigInt(length) > size) {
    throw truncated(subject, offset, BigInt(length), size - offset);
  }
}

/** Bytes of synchronous file I/O after which the event loop gets a turn (timers, sockets, progress). */
const SYNC_IO_YIELD_BYTES = 32 * 1024 * 1024;
let syncIoSinceYield = 0;

/**
 * Regular files are read and written with synchronous positional syscalls (pread/pwrite on the calling
 * thread, as QEMU's migration thread does): a promise-based call costs a thread-pool round trip per call,
 * which dominates when pages come in short runs. Callers account their bytes here, and every 32 MiB the
 * event loop gets a turn, so a multi-GiB copy never starves timers or sockets.
 */
export async function paceSyncIo(bytes: number): Promise<void> {
  syncIoSinceYield += bytes;
  if (syncIoSinceYield < SYNC_IO_YIELD_BYTES) return;
  syncIoSinceYield = 0;
  await new Promise<void>((resolve) => setImmediate(resolve));
}

export class FileSource implements RandomAccessSource {
  private constructor(
    private readonly fh: FileHandle,
    readonly size: bigint,
    readonly path: string,
    /** a regular file: reads are synchronous (never blocks on a pipe or device) */
    private readonly regular: boolean,
  ) {}

  static async open(path: string): Promise<FileSource> {
    const fh = await open(path, "r");
    try {
      const st = await fh.stat({ bigint: true });
      return new FileSource(fh, st.size, path, st.isFile());
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async read(offset: bigint, length: number, subject = "file"): Promise<Uint8Array> {
    checkRange(this.size, offset, length, subject);
    const out = new Uint8Array(length);
    const n = await this.readInto(offset, out);
    if (n !== length) throw truncated(subject, offset, BigInt(length), BigInt(n));
    return out;
  }

  async readInto(offset: bigint, into: Uint8Array): Promise<number> {
    let done = 0;
    if (this.regular) {
      const fd = this.fh.fd;
      while (done < into.length) {
        const n = readSync(
          fd,
          into,
          done,
          into.length - done,
          toSafeNumber(offset + BigInt(done), "file offset"),
        );
        if (n === 0) break;
        done += n;
      }
      await paceSyncIo(done);
      return done;
    }
    while (done < into.length) {
      const { bytesRead } = await this.fh.read(
        into,
        done,
        into.length - done,
        toSafeNumber(offset + BigInt(done), "file offset"),
      );
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /** The path when this is a regular file (others may open and pread it themselves), else undefined. */
  get filePath(): string | undefined {
    return this.regular ? this.path : undefined;
  }

  /** The file descriptor, for callers that need positional I/O of their own. */
  get fd(): number {
    return this.fh.fd;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class MemorySource implements RandomAccessSource {
  readonly size: bigint;
  constructor(private readonly bytes: Uint8Array) {
    this.size = BigInt(bytes.length);
  }
  async read(offset: bigint, length: number, subject = "file"): Promise<Uint8Array> {
    checkRange(this.size, offset, length, subject);
    const at = Number(offset);
    return this.bytes.slice(at, at + length);
  }
  async readInto(offset: bigint, into: Uint8Array): Promise<number> {
    if (offset >= this.size) return 0;
    const at = Number(offset);
    const n = Math.min(into.length, this.bytes.length - at);
    into.set(this.bytes.subarray(at, at + n));
    return n;
  }
  async close(): Promise<void> {}
}

/**
 * Sequential reader over a random-access source, for the main migration stream.
 * Reads ahead in windows; every read checks the file size first.
 */
export class Cursor {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0n;
  pos: bigint;

  constructor(
    readonly source: RandomAccessSource,
    start: bigint,
    private readonly windowSize = 64 * 1024,
  ) {
    this.pos = start;
  }

  get remaining(): bigint {
    return this.source.size - this.pos;
  }

  /** Exactly `n` bytes at the cursor; advances. */
  async take(n: number, subject: string, field?: string): Promise<Uint8Array> {
    if (n < 0 || BigInt(n) > this.remaining) {
      throw truncated(subject, this.pos, BigInt(n), this.remaining, field);
    }
    const rel = this.pos - this.windowStart;
    if (rel < 0n || rel + BigInt(n) > BigInt(this.window.length)) {
      const want = BigInt(Math.max(n, this.windowSize));
      const left = this.source.size - this.pos;
      const len = Number(want < left ? want : left);
      this.window = await this.source.read(this.pos, len, subject);
      this.windowStart = this.pos;
    }
    const s = Number(this.pos - this.windowStart);
    this.pos += BigInt(n);
    return this.window.subarray(s, s + n);
  }

  async u8(subject: string, field?: string): Promise<number> {
    const b = await this.take(1, subject, field);
    return b[0] as number;
  }
  async peekU8(subject: string): Promise<number | undefined> {
    if (this.remaining < 1n) return undefined;
    const v = await this.u8(subject);
    this.pos -= 1n;
    return v;
  }
  async u16be(subject: string, field?: string): Promise<number> {
    const b = await this.take(2, subject, field);
    return ((b[0] as number) << 8) | (b[1] as number);
  }
  async u32be(subject: string, field?: string): Promise<number> {
    const b = await this.take(4, subject, field);
    return u32beAt(b, 0);
  }
  async u64be(subject: string, field?: string): Promise<bigint> {
    const b = await this.take(8, subject, field);
    return u64beAt(b, 0);
  }
  /** u8 length + bytes (QEMU counted string). */
  async countedBytes(subject: string, field?: string): Promise<Uint8Array> {
    const n = await this.u8(subject, field);
    return (await this.take(n, subject, field)).slice();
  }

  seek(to: bigint): void {
    this.pos = to;
  }

  describe(): string {
    return hex(this.pos);
  }
}
