// migration/ram.c: mapped_ram_setup_ramblock — the regions of a file must not overlap.
// Regions: the main stream's segments, and every block's bitmap and page array.
import { hex, minBig } from "./bytes.js";
import type { Region, Walk } from "./walk.js";

/** At most this many overlap findings per file (a broken header can overlap everything). */
const MAX_OVERLAPS = 16;

/** Sweep in start order, comparing each region with the one reaching furthest so far. */
export function checkOverlaps(w: Walk): void {
  const regions = w.regions
    .filter((r) => r.end > r.start)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let reach: Region | undefined;
  let count = 0;
  for (const r of regions) {
    if (reach !== undefined && r.start < reach.end && count < MAX_OVERLAPS) {
      count++;
      const end = minBig(r.end, reach.end);
      w.report("ram.layout.overlap", r.start, {
        subject: r.label,
        field: `[${hex(r.start)}, ${hex(r.end)})`,
        rule: `must not overlap ${reach.label} [${hex(reach.start)}, ${hex(reach.end)}): they share [${hex(r.start)}, ${hex(end)})`,
      });
    }
    if (reach === undefined || r.end > reach.end) reach = r;
  }
}
