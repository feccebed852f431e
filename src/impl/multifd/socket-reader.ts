// io/channel.c: qio_channel_read_all / qio_channel_read_all_eof / migration_channel_read_peek — exact reads
// from one migration socket, with EOF told apart from a short read. Bounded buffering: the socket is
// paused while more than `highWaterMark` bytes wait to be consumed.
import type { Socket } from "node:net";
import { concatBytes } from "../bytes.js";
import { MappedRamError } from "../errors.js";
import { Cursor, type RandomAccessSource } from "../source.js";

/** ERR_TRUNCATED: `requested` bytes from `offset` were needed, the connection ended after `got`. */
export function shortRead(subject: string, offset: bigint, requested: number, got: number, field?: string) {
  return new MappedRamError("ERR_TRUNCATED", {
    subject,
    offset,
    field,
    rule: `needs ${requested} bytes but the connection ended after ${got}`,
    bytesRequested: BigInt(requested),
    bytesAvailable: BigInt(got),
  });
}

export class SocketReader {
  readonly #socket: Socket;
  readonly #highWaterMark: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #failure: unknown;
  #wake: (() => void) | undefined;
  #paused = false;
  #pos = 0n;

  /** `onData` is called for every chunk received (the receiver's idle timer). */
  constructor(socket: Socket, opts: { highWaterMark?: number; onData?: () => void } = {}) {
    this.#socket = socket;
    this.#highWaterMark = opts.highWaterMark ?? 4 * 1024 * 1024;
    socket.on("data", (d: Buffer) => {
      this.#chunks.push(d);
      this.#buffered += d.length;
      opts.onData?.();
      if (this.#buffered > this.#highWaterMark && !this.#paused) {
        this.#paused = true;
        socket.pause();
      }
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (e) => {
      // After the peer's FIN every byte is here; a late reset changes nothing.
      if (this.#ended) return;
      const err = e as NodeJS.ErrnoException;
      this.fail(
        new MappedRamError("ERR_IO", {
          subject: "migration socket",
          rule: `${err.code ?? "I/O error"}: ${err.message}`,
          cause: e,
        }),
      );
    });
  }

  /** Bytes consumed so far: the stream offset of the next byte. */
  get pos(): bigint {
    return this.#pos;
  }

  /** Makes every pending and future read reject with `e` (the first failure wins). */
  fail(e: unknown): void {
    if (this.#failure === undefined) this.#failure = e;
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffered < n && !this.#ended && this.#failure === undefined) {
      if (this.#paused) {
        this.#paused = false;
        this.#socket.resume();
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** The next `n` bytes in one piece: a view when they lie in one chunk, else a copy. */
  #take(n: number): Uint8Array {
    const views = this.#takeViews(n);
    return views.length === 1 ? (views[0] as Uint8Array) : concatBytes(views);
  }

  #consumed(n: number): void {
    this.#buffered -= n;
    this.#pos += BigInt(n);
    if (this.#paused && this.#buffered < this.#highWaterMark / 2) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  /**
   * Up to `max` bytes of what has arrived (at least one: it waits for one) as views of the chunks they
   * came in (no copy), or none when the stream has ended: a packet's pages are written as they come,
   * so a connection never holds a whole packet.
   */
  async readViewsUpTo(max: number): Promise<Uint8Array[]> {
    await this.#fill(1);
    if (this.#buffered === 0) return [];
    return this.#takeViews(Math.min(max, this.#buffered));
  }

  #takeViews(n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let got = 0;
    while (got < n) {
      const c = this.#chunks[0] as Uint8Array;
      const k = Math.min(c.length, n - got);
      out.push(k === c.length ? c : c.subarray(0, k));
      got += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#consumed(n);
    return out;
  }

  /** The next `n` bytes without consuming them; undefined when the stream ends first. */
  async peek(n: number): Promise<Uint8Array | undefined> {
    await this.#fill(n);
    if (this.#buffered < n) return undefined;
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.#chunks) {
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (at === n) break;
    }
    return out;
  }

  /** Exactly `n` bytes; ERR_TRUNCATED when the stream ends first. */
  async read(n: number, subject: string, field?: string): Promise<Uint8Array> {
    const at = this.#pos;
    await this.#fill(n);
    if (this.#buffered < n) throw shortRead(subject, at, n, this.#buffered, field);
    return this.#take(n);
  }

  /** Exactly `n` bytes, or undefined when the stream ends cleanly before the first byte. */
  async readOrEnd(n: number, subject: string, field?: string): Promise<Uint8Array | undefined> {
    await this.#fill(1);
    if (this.#buffered === 0) return undefined;
    return this.read(n, subject, field);
  }

  /** Everything until the end of the stream; ERR_TOO_LARGE above `limit` bytes. */
  async readToEnd(limit: number, subject: string): Promise<Uint8Array> {
    const at = this.#pos;
    for (;;) {
      await this.#fill(this.#buffered + 1);
      if (this.#buffered > limit) {
        throw new MappedRamError("ERR_TOO_LARGE", {
          subject,
          offset: at,
          rule: `is longer than the limit of ${limit} bytes`,
        });
      }
      if (this.#ended) return this.#take(this.#buffered);
    }
  }
}

/** No random access: a stream cursor reads through its SocketReader only. */
const NO_SOURCE: RandomAccessSource = {
  size: 0n,
  read: () => Promise.reject(new RangeError("a stream has no random access")),
  readInto: () => Promise.reject(new RangeError("a stream has no random access")),
  close: () => Promise.resolve(),
};

/**
 * The Cursor API over a socket, so the record decoders written for files (decodeConfiguration) work on a
 * live stream. Only forward reads are possible: `seek` is refused.
 */
export class StreamCursor extends Cursor {
  constructor(readonly reader: SocketReader) {
    super(NO_SOURCE, reader.pos);
  }
  override get remaining(): bigint {
    return BigInt(Number.MAX_SAFE_INTEGER);
  }
  override async take(n: number, subject: string, field?: string): Promise<Uint8Array> {
    const b = await this.reader.read(n, subject, field);
    this.pos = this.reader.pos;
    return b;
  }
  override async peekU8(): Promise<number | undefined> {
    const b = await this.reader.peek(1);
    return b?.[0];
  }
  override seek(to: bigint): void {
    throw new RangeError(`a stream cannot seek (to ${to})`);
  }
}
