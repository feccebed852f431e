// migration/ram.c: ram_save_target_page / save_zero_page / save_normal_page (mapped-ram alone) and
// migration/multifd*.c + file.c (mapped-ram + multifd): pages go to pages_offset + index*4096 with
// positional writes; zero pages are not written and their bit is cleared; the bitmap is shared.

import type { PageBitmap } from "./bitmap.js";
import { TARGET_PAGE_SIZE } from "./constants.js";
import type { OutputFile } from "./output.js";
import { isZeroPage, type ZeroPageDetection } from "./zero-page.js";

/** Where one block's pages go and which bitmap records them. */
export interface BlockTarget {
  idstr: string;
  pagesOffset: bigint;
  bitmap: PageBitmap;
}

/** Up to MULTIFD_PAGES_PER_PACKET pages of one block (multifd_queue_page batches). */
export interface PageBatch {
  block: BlockTarget;
  /** page indexes within the block, ascending */
  pages: number[];
  /** one 4096-byte view per page */
  data: Uint8Array[];
  /** set when the main flow already did zero-page detection (legacy): every page here is normal */
  normalOnly: boolean;
}

/**
 * Writes the pages of a batch: detects zero pages unless `zpd` is "none" or the batch is
 * normalOnly, clears their bits, sets the bits of the others and writes runs of consecutive
 * normal pages with one positional (vectored) write each — file_write_ramblock_iov's coalescing.
 */
export async function writeBatch(out: OutputFile, batch: PageBatch, zpd: ZeroPageDetection): Promise<void> {
  const { block } = batch;
  let runStart = -1;
  let runBufs: Uint8Array[] = [];
  const flush = async () => {
    if (runBufs.length === 0) return;
    await out.writevAt(runBufs, block.pagesOffset + BigInt(runStart) * BigInt(TARGET_PAGE_SIZE));
    runBufs = [];
  };
  for (let i = 0; i < batch.pages.length; i++) {
    const page = batch.pages[i] as number;
    const data = batch.data[i] as Uint8Array;
    const zero = !batch.normalOnly && zpd !== "none" && isZeroPage(data);
    if (zero) {
      block.bitmap.clear(page);
      continue;
    }
    block.bitmap.set(page);
    if (runBufs.length > 0 && page === runStart + runBufs.length) {
      runBufs.push(data);
    } else {
      await flush();
      runStart = page;
      runBufs = [data];
    }
  }
  await flush();
}

/**
 * The page sender: without multifd the main channel writes (zero detection in the main flow);
 * with multifd N channels, each on its own descriptor, take batches round-robin. At most one batch
 * is in flight per channel, so memory is bounded by N batches.
 */
export class PageSender {
  private readonly inflight: Array<Promise<void> | undefined>;
  private next = 0;
  private failure: unknown;

  constructor(
    private readonly channels: readonly OutputFile[],
    private readonly zpd: ZeroPageDetection,
    private readonly multifd: boolean,
  ) {
    if (channels.length === 0) throw new RangeError("PageSender needs at least one channel");
    this.inflight = channels.map(() => undefined);
  }

  /** Queue a batch of pages of one block. Resolves when a channel has taken it. */
  async send(batch: PageBatch): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    let b = batch;
    if (!this.multifd || this.zpd === "legacy") {
      // Zero detection in the main flow (ram.c: save_zero_page), before the page is queued.
      b = this.mainFlowFilter(batch);
      if (b.pages.length === 0) return;
    }
    const i = this.next;
    this.next = (this.next + 1) % this.channels.length;
    const busy = this.inflight[i];
    if (busy) await busy;
    if (this.failure !== undefined) throw this.failure;
    const ch = this.channels[i] as OutputFile;
    this.inflight[i] = writeBatch(ch, b, this.zpd).catch((e: unknown) => {
      this.failure ??= e;
    });
  }

  private mainFlowFilter(batch: PageBatch): PageBatch {
    if (this.zpd === "none") return { ...batch, normalOnly: true };
    const pages: number[] = [];
    const data: Uint8Array[] = [];
    for (let i = 0; i < batch.pages.length; i++) {
      const p = batch.pages[i] as number;
      const d = batch.data[i] as Uint8Array;
      if (isZeroPage(d)) batch.block.bitmap.clear(p);
      else {
        pages.push(p);
        data.push(d);
      }
    }
    return { block: batch.block, pages, data, normalOnly: true };
  }

  /** multifd_ram_flush_and_sync (MULTIFD_SYNC_LOCAL): wait until every channel is idle. Writes nothing. */
  async sync(): Promise<void> {
    await Promise.all(this.inflight);
    this.inflight.fill(undefined);
    if (this.failure !== undefined) throw this.failure;
  }
}
