// One worker thread (case-worker.mjs) at a time, running the cases one after another and enforcing the
// bounds: a target running longer than `targetTimeoutMs` is a hang (the worker is terminated and
// restarted), the worker's heap is capped by `resourceLimits`, and this thread samples the process RSS
// every 5 ms while a case runs. A hang, crash or memory overrun comes back as a failed target result.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { CampaignOptions, TargetResult } from "./engine.js";
import type { FuzzCase } from "./mutations.js";
import { REPO_ROOT, type Seed } from "./seeds.js";

/** The built tools the worker runs. */
const DIST = join(REPO_ROOT, "dist");
export const MB = 1024 * 1024;

export interface Done {
  results: TargetResult[];
  memory: { arrayBuffers: number; heapUsed: number };
  rssGrowth: number;
}

export class CaseRunner {
  #worker: Worker | undefined;
  #ready: Promise<void> | undefined;
  #closing = false;
  restarts = 0;
  onRestart: ((why: string) => void) | undefined;
  peakRss = 0;
  peakArrayBuffers = 0;

  constructor(
    private readonly seeds: Seed[],
    private readonly shared: SharedArrayBuffer[],
    private readonly opts: Required<
      Pick<CampaignOptions, "targetTimeoutMs" | "memoryLimitMb" | "reuseEvery" | "scratch">
    > & {
      targets: readonly string[];
    },
  ) {}

  #start(): Promise<void> {
    const w = new Worker(new URL("./case-worker.mjs", import.meta.url), {
      workerData: {
        dist: DIST,
        tmp: join(this.opts.scratch, `worker-${this.restarts}`),
        seeds: this.seeds.map((s, i) => ({
          name: s.name,
          buffer: this.shared[i],
          length: s.bytes.length,
          offset: s.offset === undefined ? null : s.offset.toString(),
        })),
        targets: this.opts.targets,
        reuseEvery: this.opts.reuseEvery,
      },
      resourceLimits: { maxOldGenerationSizeMb: this.opts.memoryLimitMb + 64 },
      stdout: false,
      stderr: false,
    });
    this.#worker = w;
    return new Promise<void>((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type === "ready") {
          w.off("message", onMessage);
          w.off("error", reject);
          resolve();
        }
      };
      w.on("message", onMessage);
      w.once("error", reject);
    });
  }

  async #ensure(): Promise<Worker> {
    if (!this.#worker) this.#ready = this.#start();
    await this.#ready;
    return this.#worker as Worker;
  }

  async #restart(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    this.restarts++;
    await w?.terminate();
  }

  /** Ends the worker; a case still running (fast-check returns at its time limit without waiting) is dropped. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #queue: Promise<unknown> = Promise.resolve();

  /** Runs one case after the previous one; a hang, crash or memory overrun comes back as a failed result. */
  run(id: number, c: FuzzCase, targets: readonly string[]): Promise<Done> {
    const next = this.#queue.then(() => this.#runNow(id, c, targets));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #runNow(id: number, c: FuzzCase, targets: readonly string[]): Promise<Done> {
    const w = await this.#ensure();
    const limit = this.opts.memoryLimitMb * MB;
    const rssBase = process.memoryUsage.rss();
    let rssPeak = rssBase;
    let current = "(start)";
    return new Promise<Done>((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (d: Done, restart: boolean) => {
        if (settled) return;
        settled = true;
        clearInterval(sampler);
        clearTimeout(timer);
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
        this.peakRss = Math.max(this.peakRss, d.rssGrowth);
        this.peakArrayBuffers = Math.max(this.peakArrayBuffers, d.memory.arrayBuffers);
        if (restart) {
          this.onRestart?.(d.results[0]?.detail ?? "?");
          void this.#restart().then(() => resolve(d));
        } else resolve(d);
      };
      const failed = (kind: string, detail: string): Done => ({
        results: [{ target: current, status: "fail", kind, detail, ms: 0 }],
        memory: { arrayBuffers: 0, heapUsed: 0 },
        rssGrowth: rssPeak - rssBase,
      });
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => finish(failed("hang", `${current} ran longer than ${this.opts.targetTimeoutMs} ms`), true),
          this.opts.targetTimeoutMs,
        );
      };
      const sampler = setInterval(() => {
        const rss = process.memoryUsage.rss();
        rssPeak = Math.max(rssPeak, rss);
        if (rss - rssBase > limit) {
          finish(
            failed("memory", `RSS grew by ${((rss - rssBase) / MB).toFixed(0)} MiB while ${current} ran`),
            true,
          );
        }
      }, 5);
      const onMessage = (m: { type: string; id: number; target?: string } & Partial<Done>) => {
        if (m.id !== id) return;
        if (m.type === "target") {
          current = m.target ?? current;
          arm();
        } else if (m.type === "done") {
          const results = m.results ?? [];
          const memory = m.memory ?? { arrayBuffers: 0, heapUsed: 0 };
          if (memory.arrayBuffers > limit || memory.heapUsed > limit) {
            // attributed to the case's last target, as the RSS sampler does: one finding either way
            results.push({
              target: current,
              status: "fail",
              kind: "memory",
              detail: `the worker's ArrayBuffers grew by ${(memory.arrayBuffers / MB).toFixed(0)} MiB, its heap by ${(memory.heapUsed / MB).toFixed(0)} MiB`,
              ms: 0,
            });
          }
          finish({ results, memory, rssGrowth: rssPeak - rssBase }, false);
        }
      };
      const onError = (e: Error) => {
        const oom = (e as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY";
        finish(failed(oom ? "memory" : "crash", `${current}: ${e.name}: ${e.message}`), true);
      };
      const onExit = (code: number) => {
        if (this.#closing)
          finish({ results: [], memory: { arrayBuffers: 0, heapUsed: 0 }, rssGrowth: 0 }, false);
        else finish(failed("crash", `the worker exited with ${code} during ${current}`), true);
      };
      w.on("message", onMessage);
      w.once("error", onError);
      w.once("exit", onExit);
      arm();
      w.postMessage({ type: "case", id, seed: c.seed, mutations: c.mutations, targets });
    });
  }
}
