// The write lock that save's I/O threads take around their writes to one output (write-lock.ts): held
// by one thread at a time, including when a holder keeps it past the polling time and the waiters sleep.
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { newWriteLock } from "../../src/impl/write-lock.js";

const LOCK_MODULE = new URL("../../dist/impl/write-lock.js", import.meta.url).href;

/**
 * Each thread, once all have started, `rounds` times: take the lock, read the shared counter, hold for `holdMs` (busy), write
 * it back plus one, release. Lost updates mean two threads held the lock at once. `locked: false`
 * does the same without the lock, to show the test sees overlap.
 */
const THREAD = `
const { workerData, parentPort } = require("node:worker_threads");
import(workerData.lockModule).then(({ WriteLock }) => {
  const lock = new WriteLock(workerData.lock);
  const counter = new Int32Array(workerData.counter);
  // start together: word 1 counts the threads ready
  Atomics.add(counter, 1, 1);
  while (Atomics.load(counter, 1) < workerData.threads) {}
  for (let r = 0; r < workerData.rounds; r++) {
    if (workerData.locked) lock.acquire();
    const seen = Atomics.load(counter, 0);
    const until = performance.now() + workerData.holdMs;
    while (performance.now() < until) {}
    Atomics.store(counter, 0, seen + 1);
    if (workerData.locked) lock.release();
  }
  parentPort.postMessage("done");
});
`;

/** The counter after every thread is done, and the lock's word then (0: free). */
async function run(
  threads: number,
  rounds: number,
  holdMs: number,
  locked: boolean,
): Promise<{ count: number; word: number }> {
  const lock = newWriteLock();
  const counter = new SharedArrayBuffer(8);
  const workers = Array.from(
    { length: threads },
    () =>
      new Worker(THREAD, {
        eval: true,
        workerData: { lockModule: LOCK_MODULE, lock, counter, threads, rounds, holdMs, locked },
      }),
  );
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once("message", () => resolve());
            w.once("error", reject);
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return { count: new Int32Array(counter)[0] as number, word: new Int32Array(lock)[0] as number };
}

describe("WriteLock", () => {
  it("without the lock, threads overlap and updates are lost (the check below can fail)", async () => {
    expect((await run(3, 40, 0.2, false)).count).toBeLessThan(120);
  });

  it("held briefly (waiters poll): no update is lost", async () => {
    expect(await run(3, 400, 0.02, true)).toEqual({ count: 1200, word: 0 });
  });

  it("held past the polling time (waiters sleep and are woken): no update is lost", async () => {
    expect(await run(3, 30, 2, true)).toEqual({ count: 90, word: 0 });
  });
});
