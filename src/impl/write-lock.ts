// A mutex in shared memory that threads writing one output file take around their positional writes.
// Buffered writes to one file serialize in the kernel anyway (the inode lock); a thread that finds it
// held spins on the owner there for as long as the owner runs, taking a core from the writeback and
// reclaim that the writes need. Here it polls briefly, then sleeps (Atomics.wait), and the threads'
// reads and zero detection overlap the writes.
// States: 0 free, 1 held, 2 held with sleepers (a futex mutex: Drepper, "Futexes Are Tricky", mutex2).

/**
 * How long acquire() polls before it sleeps: longer than one batch's writes take when the page cache
 * takes them at memory speed, far shorter than a holder stalled in writeback or reclaim.
 */
const SPIN_MS = 0.3;

/** The shared memory of one write lock (one Int32). */
export function newWriteLock(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

export class WriteLock {
  private readonly word: Int32Array;

  constructor(memory: SharedArrayBuffer) {
    this.word = new Int32Array(memory, 0, 1);
  }

  /**
   * Blocks the calling thread (never the main one) until it holds the lock. It polls for up to
   * SPIN_MS first: waking a sleeping thread takes tens of µs on a VM (its idle vCPU must be woken), and
   * the lock changes hands once per batch, so a short wait is best spent awake.
   */
  acquire(): void {
    let c = Atomics.compareExchange(this.word, 0, 0, 1);
    if (c === 0) return;
    const until = performance.now() + SPIN_MS;
    for (let i = 1; ; i++) {
      if (Atomics.load(this.word, 0) === 0) {
        c = Atomics.compareExchange(this.word, 0, 0, 1);
        if (c === 0) return;
      }
      if ((i & 63) === 0 && performance.now() > until) break;
    }
    do {
      if (c === 2 || Atomics.compareExchange(this.word, 0, 1, 2) !== 0) Atomics.wait(this.word, 0, 2);
      c = Atomics.compareExchange(this.word, 0, 0, 2);
    } while (c !== 0);
  }

  release(): void {
    if (Atomics.sub(this.word, 0, 1) !== 1) {
      Atomics.store(this.word, 0, 0);
      Atomics.notify(this.word, 0, 1);
    }
  }
}
