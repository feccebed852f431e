// Random-access input for the oracle: a size and positional reads. Nothing reads a whole file.
import { readSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { toSafeNumber } from "./bytes.js";

/**
 * What the oracle reads: a file, an in-memory buffer, or anything else with a size and positional
 * reads. (the reference implementation's sources have the same shape, so they can be passed in as they are.)
 */
export interface ByteSource {
  /** total size in bytes */
  readonly size: bigint;
  /** Reads into `into` at `offset`; returns the bytes read (short only at the end of the source). */
  readInto(offset: bigint, into: Uint8Array): Promise<number>;
}

/** Largest single read the oracle does; bigger regions are read in chunks. */
export const MAX_READ = 16 * 1024 * 1024;

/**
 * `length` bytes at `offset`, or `undefined` when the source does not hold all of them.
 * The range is checked against the size before anything is allocated.
 */
export async function readRange(
  src: ByteSource,
  offset: bigint,
  length: number,
): Promise<Uint8Array | undefined> {
  if (offset < 0n || length < 0 || length > MAX_READ || offset + BigInt(length) > src.size) return undefined;
  const out = new Uint8Array(length);
  const n = await src.readInto(offset, out);
  return n === length ? out : undefined;
}

/** An in-memory source (tests, small images). */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: BigInt(bytes.length),
    async readInto(offset, into) {
      if (offset >= BigInt(bytes.length)) return 0;
      const at = Number(offset);
      const n = Math.min(into.length, bytes.length - at);
      into.set(bytes.subarray(at, at + n));
      return n;
    },
  };
}

/** A file opened read-only; the caller closes it. */
export interface FileByteSource extends ByteSource {
  readonly path: string;
  close(): Promise<void>;
}

/** Bytes read synchronously between two turns of the event loop (timers, signals, progress). */
const YIELD_EVERY = 64 * 1024 * 1024;
let sinceYield = 0;

/**
 * A file, read with positional reads. A regular file is read with synchronous preads: each read is one
 * syscall on this thread, where an asynchronous read waits for a thread-pool round trip (which cost
 * verify --ram half its time); the event loop still gets a turn every YIELD_EVERY bytes.
 */
export async function openFileSource(path: string): Promise<FileByteSource> {
  const fh: FileHandle = await open(path, "r");
  let size: bigint;
  let regular: boolean;
  try {
    const st = await fh.stat({ bigint: true });
    size = st.size;
    regular = st.isFile();
  } catch (e) {
    await fh.close();
    throw e;
  }
  return {
    path,
    size,
    async readInto(offset, into) {
      let done = 0;
      while (done < into.length) {
        const position = toSafeNumber(offset + BigInt(done), "file offset");
        const n = regular
          ? readSync(fh.fd, into, done, into.length - done, position)
          : (await fh.read(into, done, into.length - done, position)).bytesRead;
        if (n === 0) break;
        done += n;
      }
      if (regular) {
        sinceYield += done;
        if (sinceYield >= YIELD_EVERY) {
          sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      return done;
    },
    close: () => fh.close(),
  };
}
