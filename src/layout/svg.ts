// Draws a FileMap as a standalone SVG: one row per region, top to bottom in file order, the start
// offset of each row labelled on the left. Row heights follow the bytes (to scale) with a readable
// scale break: small regions are enlarged to one text line, huge ones are shortened (zigzag mark).
// Every label carries data-offset / data-kind attributes so a browser test can check them.
import type { FileMap, MapRegion, PagePresence, RegionKind } from "./map.js";

/** Height budget for the whole map at true scale, in px. */
const SCALE_HEIGHT = 640;
/** Least row height: one line of 12 px text. */
export const MIN_ROW = 22;
/** Most row height; taller rows get a scale break. */
export const MAX_ROW = 220;
const WIDTH = 1000;
const TOP = 70;
const X_OFFSET = 118;
const X_BAR = 130;
const BAR_W = 170;
const X_TEXT = 314;
const GRID_COLS = 64;
const CELL = 5;

const FILL: Record<RegionKind, string> = {
  prefix: "#d9d9d9",
  "file-header": "#8da0cb",
  configuration: "#8da0cb",
  "ram-start": "#b3bfe0",
  "block-record": "#b3bfe0",
  header: "#fc8d62",
  bitmap: "#66c2a5",
  padding: "#ffffff",
  pages: "#e7eef8",
  "ram-setup-end": "#b3bfe0",
  "ram-part": "#b3bfe0",
  "ram-end": "#b3bfe0",
  command: "#cab2d6",
  device: "#a6d854",
  section: "#a6d854",
  eof: "#bdbdbd",
  vmdesc: "#ffd92f",
  trailing: "#d9d9d9",
};

const PRESENT = "#2b5a9e";
const ZERO = "#dde3ea";

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** `28 B`, `256 B`, `1023.6 KiB`, `8.0 MiB`: exact below 1 KiB, one decimal above. */
export function sizeText(n: bigint): string {
  if (n < 1024n) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let u = 0;
  let v = n;
  while (v >= 1024n * 1024n && u < units.length - 1) {
    v /= 1024n;
    u++;
  }
  const tenths = (v * 10n + 512n) / 1024n;
  return `${tenths / 10n}.${tenths % 10n} ${units[u]}`;
}

export type RowScale = "true" | "enlarged" | "break";

export interface Row {
  region: MapRegion;
  y: number;
  height: number;
  scale: RowScale;
}

function gridHeight(p: PagePresence): number {
  return Math.ceil(p.cells.length / GRID_COLS) * CELL;
}

/** Row heights and positions: to scale, enlarged to MIN_ROW, or shortened to MAX_ROW with a break. */
export function layoutRows(map: FileMap): Row[] {
  const total = map.fileSize > 0n ? map.fileSize : 1n;
  const rows: Row[] = [];
  let y = TOP;
  for (const region of map.regions) {
    const size = region.end - region.start;
    // px at true scale, computed in bigint so huge files keep their precision
    const exact = Number((size * BigInt(SCALE_HEIGHT) * 1000n) / total) / 1000;
    let height = exact;
    let scale: RowScale = "true";
    if (exact < MIN_ROW) {
      height = MIN_ROW;
      scale = "enlarged";
    } else if (exact > MAX_ROW) {
      height = MAX_ROW;
      scale = "break";
    }
    if (region.pages) {
      const need = 26 + gridHeight(region.pages) + 8;
      if (height < need) {
        height = need;
        if (scale === "true") scale = "enlarged";
      }
    }
    height = Math.round(height);
    rows.push({ region, y, height, scale });
    y += height;
  }
  return rows;
}

function grid(p: PagePresence, x: number, y: number): string {
  const out: string[] = [
    `<g class="presence" data-pages="${p.numPages}" data-present="${p.present}" data-pages-per-cell="${p.pagesPerCell}">`,
  ];
  for (let i = 0; i < p.cells.length; i++) {
    const inCell = Math.min(p.pagesPerCell, p.numPages - i * p.pagesPerCell);
    const frac = (p.cells[i] ?? 0) / inCell;
    const fill = frac === 0 ? ZERO : PRESENT;
    const opacity = frac === 0 || frac === 1 ? "" : ` fill-opacity="${(0.25 + 0.75 * frac).toFixed(2)}"`;
    const cx = x + (i % GRID_COLS) * CELL;
    const cy = y + Math.floor(i / GRID_COLS) * CELL;
    out.push(`<rect x="${cx}" y="${cy}" width="${CELL - 1}" height="${CELL - 1}" fill="${fill}"${opacity}/>`);
  }
  out.push("</g>");
  return out.join("");
}

function zigzag(x: number, y: number, w: number): string {
  const pts: string[] = [];
  for (let i = 0; i <= 10; i++) pts.push(`${x + (w * i) / 10},${y + (i % 2 === 0 ? -4 : 4)}`);
  const line = pts.join(" ");
  return `<polyline class="scale-break" points="${line}" fill="none" stroke="#ffffff" stroke-width="7"/><polyline points="${line}" fill="none" stroke="#555" stroke-width="1.5"/>`;
}

function offsetLabel(offset: bigint, y: number, role: string): string {
  const o = hex(offset);
  // the label is centred on the boundary it names; the tick points at it
  return `<text class="offset" data-offset="${o}" data-role="${role}" x="${X_OFFSET}" y="${y + 4}" text-anchor="end">${o}</text><line x1="${X_OFFSET + 3}" y1="${y}" x2="${X_BAR}" y2="${y}" stroke="#999"/>`;
}

function regionSvg(row: Row): string {
  const r = row.region;
  const size = r.end - r.start;
  const attrs = [
    `class="region"`,
    `data-kind="${r.kind}"`,
    `data-start="${hex(r.start)}"`,
    `data-end="${hex(r.end)}"`,
    `data-scale="${row.scale}"`,
    ...(r.block !== undefined ? [`data-block="${escapeXml(r.block)}"`] : []),
  ].join(" ");
  const tip = `${r.label}: ${hex(r.start)}–${hex(r.end)} (${size} bytes)${r.detail ? `; ${r.detail}` : ""}`;
  const dash = row.scale === "enlarged" ? ` stroke-dasharray="3 2"` : "";
  const parts = [
    `<g ${attrs}>`,
    `<title>${escapeXml(tip)}</title>`,
    `<rect x="${X_BAR}" y="${row.y}" width="${BAR_W}" height="${row.height}" fill="${FILL[r.kind]}" stroke="#555"${dash}/>`,
  ];
  if (row.scale === "break") parts.push(zigzag(X_BAR, row.y + row.height / 2, BAR_W));
  parts.push(offsetLabel(r.start, row.y, "start"));
  const detail = r.detail ? ` — ${r.detail}` : "";
  parts.push(
    `<text class="label" x="${X_TEXT}" y="${row.y + 15}"><tspan font-weight="bold">${escapeXml(r.label)}</tspan> ${escapeXml(sizeText(size))}${escapeXml(detail)}</text>`,
  );
  if (r.pages) {
    parts.push(
      `<text class="note" x="${X_TEXT + GRID_COLS * CELL + 12}" y="${row.y + 36}">${r.pages.pagesPerCell === 1 ? "1 page" : `${r.pages.pagesPerCell} pages`} per cell</text>`,
    );
    parts.push(grid(r.pages, X_TEXT, row.y + 26));
  }
  parts.push("</g>");
  return parts.join("");
}

/** The whole picture as an SVG document (UTF-8, no external resources). */
export function renderSvg(map: FileMap): string {
  const rows = layoutRows(map);
  const last = rows.at(-1);
  const bottom = last ? last.y + last.height : TOP;
  const height = bottom + 80;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">`,
  );
  out.push(`<title>${escapeXml(`mrc layout ${map.file}`)}</title>`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text class="title" x="10" y="22" font-size="15" font-weight="bold">${escapeXml(map.file)}</text>`,
  );
  out.push(
    `<text class="subtitle" x="10" y="42">${map.fileSize} bytes (${hex(map.fileSize)}), ${sizeText(map.fileSize)}; stream at ${hex(map.streamOffset)}; ${map.mappedRam ? "mapped-ram" : "ordinary stream"}</text>`,
  );
  for (const row of rows) out.push(regionSvg(row));
  out.push(offsetLabel(map.fileSize, bottom, "file-end"));
  out.push(`<text class="label" x="${X_TEXT}" y="${bottom + 18}">end of file</text>`);
  const ly = bottom + 44;
  out.push(
    `<g class="legend"><rect x="10" y="${ly - 9}" width="9" height="9" fill="${PRESENT}"/><text x="24" y="${ly}">page present (bit set)</text>`,
    `<rect x="190" y="${ly - 9}" width="9" height="9" fill="${ZERO}"/><text x="204" y="${ly}">zero page (bit clear, a hole)</text>`,
    `<text x="10" y="${ly + 20}">Row heights are to scale; dashed rows are enlarged to be readable; a zigzag marks a scale break (row shortened).</text></g>`,
  );
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
