// One loader channel of `mrc extract` on a worker thread: runs each block job it is sent with
// copyBlockPages (extract-copy.ts) beside the other channels, which share out the block's chunks.
import { parentPort } from "node:worker_threads";
import { copyBlockPages, newCopyBuffer } from "./extract-copy.js";
import type { ExtractJob } from "./extract-protocol.js";

const port = parentPort;
if (!port) throw new Error("extract-worker must run on a worker thread");
const buf = newCopyBuffer();

port.on("message", (job: ExtractJob | "close") => {
  if (job === "close") {
    port.close();
    return;
  }
  port.postMessage(copyBlockPages(job, buf));
});
