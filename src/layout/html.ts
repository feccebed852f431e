// The file map as one self-contained HTML page: a table of every region and the SVG picture inline.
import type { FileMap } from "./map.js";
import { escapeXml, renderSvg, sizeText } from "./svg.js";

const hex = (v: bigint) => `0x${v.toString(16)}`;

export function renderHtml(map: FileMap): string {
  const rows = map.regions
    .map(
      (r) =>
        `<tr data-kind="${r.kind}"><td class="num">${hex(r.start)}</td><td class="num">${hex(r.end)}</td><td class="num">${escapeXml(sizeText(r.end - r.start))}</td><td>${escapeXml(r.label)}</td><td>${escapeXml(r.detail ?? "")}</td></tr>`,
    )
    .join("\n");
  const svg = renderSvg(map);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeXml(`mrc layout ${map.file}`)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
td.num { font-family: monospace; text-align: right; }
figure { margin: 0; }
</style>
</head>
<body>
<h1>${escapeXml(map.file)}</h1>
<p>${map.fileSize} bytes (${hex(map.fileSize)}); stream at ${hex(map.streamOffset)}; ${map.mappedRam ? "mapped-ram" : "ordinary stream"}; ${map.regions.length} regions.</p>
<figure>
${svg}</figure>
<table>
<thead><tr><th>start</th><th>end</th><th>size</th><th>region</th><th>facts</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}
