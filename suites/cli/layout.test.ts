// `mrc layout`: the SVG and HTML file maps, opened in headless Chromium. Checked there: the picture
// renders (regions hit-test where they are drawn, labels have real boxes inside the picture and do not
// overlap), and every labelled offset is a real one — equal to what `mrc inspect --json` reports and,
// for the 8 MiB reference case, to the landmarks of spec section 8.1.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { InspectReport } from "../../src/impl/inspect.js";
import { describeChromium, withBrowser } from "./chromium.js";
import { PAGE, saveFile, specImage, tempDir } from "./fixtures.js";
import { run } from "./run.js";

const dir = await tempDir("layout");

/** Spec 8.1: the reference file (8 MiB block "r", offset 0), every landmark the map starts a row at. */
const SPEC_8_1 = [
  "0x0", // magic, version
  "0x8", // configuration
  "0x40", // SECTION_START "ram"
  "0x59", // block "r" record
  "0x63", // MappedRamHeader
  "0x7f", // bitmap (256 bytes)
  "0x17f", // alignment padding
  "0x100000", // pages
  "0x900000", // setup EOS, footer
  "0x90000d", // SECTION_PART
  "0x90001f", // COMMAND SWITCHOVER_START
  "0x900024", // SECTION_END
  "0x900036", // timer
  "0x900066", // globalstate
  "0x9000ec", // EOF
  "0x9000ed", // vmdesc
  "0x9004f2", // end of file
];

/** The same VM at file: offset 0x1000 (spec 2.3): header 0x1063, bitmap 0x107f, pages still 0x100000. */
const SPEC_AT_0x1000 = [
  "0x0", // the kept bytes before the stream
  "0x1000",
  "0x1008",
  "0x1040",
  "0x1059",
  "0x1063",
  "0x107f",
  "0x117f",
  ...SPEC_8_1.slice(7),
];

const hexOf = (v: bigint) => `0x${v.toString(16)}`;

/** Every offset the map must label, from `inspect --json` (one row per region, plus the file end). */
function offsetsFromInspect(r: InspectReport): string[] {
  const out = new Set<string>();
  const stream = BigInt(r.streamOffset);
  if (stream > 0n) out.add("0x0");
  out.add(r.streamOffset);
  out.add(hexOf(stream + 8n)); // configuration follows magic + version (spec 1.1)
  let previousWasPart = false;
  for (const rec of r.records) {
    // consecutive empty RAM PARTs share one row
    const isPart = rec.kind === "part";
    if (!(isPart && previousWasPart)) out.add(rec.offset);
    previousWasPart = isPart;
  }
  for (const b of r.ramBlocks) {
    for (const o of [b.recordOffset, b.headerOffset, b.bitmapOffset, b.pagesOffset, b.end]) {
      if (o !== undefined) out.add(o);
    }
    if (b.bitmapOffset !== undefined && b.bitmapSize !== undefined) {
      out.add(hexOf(BigInt(b.bitmapOffset) + BigInt(b.bitmapSize)));
    }
  }
  if (r.vmdesc) out.add(r.vmdesc.offset);
  out.add(r.fileSize);
  return [...out].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
}

interface Seen {
  labels: Array<{ text: string; offset: string; role: string; x: number; y: number; w: number; h: number }>;
  texts: Array<{ x: number; y: number; w: number; h: number; text: string }>;
  regions: Array<{ start: string; kind: string; top: number; bottom: number; hit: string | null }>;
  box: { x: number; y: number; w: number; h: number };
}

/** The little of the DOM the page-side code uses (the suites compile without the DOM library). */
interface DomRect {
  x: number;
  y: number;
  width: number;
  height: number;
}
interface DomElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): DomRect;
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): Iterable<DomElement>;
  closest(selector: string): DomElement | null;
  scrollIntoView(options: { block: string }): void;
}
interface DomGlobals {
  document: DomElement & { elementFromPoint(x: number, y: number): DomElement | null };
  window: { scrollX: number; scrollY: number; scrollTo(x: number, y: number): void };
}

/** What the browser drew: offset labels, region labels and regions with their hit-test result. */
async function look(page: Page): Promise<Seen> {
  return page.evaluate(() => {
    const { document, window } = globalThis as unknown as DomGlobals;
    const svg = document.querySelector("svg") as DomElement;
    const rb = (e: DomElement) => {
      const b = e.getBoundingClientRect();
      return { x: b.x + window.scrollX, y: b.y + window.scrollY, w: b.width, h: b.height };
    };
    const labels = [...svg.querySelectorAll("text.offset")].map((t) => ({
      text: t.textContent ?? "",
      offset: t.getAttribute("data-offset") ?? "",
      role: t.getAttribute("data-role") ?? "",
      ...rb(t),
    }));
    const texts = [...svg.querySelectorAll("text.label")].map((t) => ({
      text: t.textContent ?? "",
      ...rb(t),
    }));
    const regions = [...svg.querySelectorAll("g.region")].map((g) => {
      const rect = g.querySelector(":scope > rect") as DomElement;
      const b = rect.getBoundingClientRect();
      const top = b.y + window.scrollY;
      // hit-test a point inside the drawn bar, clear of the scale-break zigzag
      rect.scrollIntoView({ block: "center" });
      const c = rect.getBoundingClientRect();
      const el = document.elementFromPoint(c.x + c.width * 0.8, c.y + Math.min(5, c.height / 4));
      return {
        start: g.getAttribute("data-start") ?? "",
        kind: g.getAttribute("data-kind") ?? "",
        top,
        bottom: top + b.height,
        hit: el?.closest("g.region")?.getAttribute("data-start") ?? null,
      };
    });
    window.scrollTo(0, 0);
    return { labels, texts, regions, box: rb(svg) };
  });
}

function overlaps(
  a: { x: number; y: number; w: number; h: number },
  b: { x: number; y: number; w: number; h: number },
) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** The checks every rendering must pass; returns the labelled offsets in order. */
function checkRendering(seen: Seen): string[] {
  expect(seen.box.w).toBeGreaterThan(500);
  expect(seen.box.h).toBeGreaterThan(300);
  for (const l of seen.labels) {
    expect(l.text, "a label shows its own data-offset").toBe(l.offset);
    expect(l.w).toBeGreaterThan(0);
    expect(l.h).toBeGreaterThan(0);
    expect(l.x).toBeGreaterThanOrEqual(seen.box.x);
    expect(l.x + l.w).toBeLessThanOrEqual(seen.box.x + seen.box.w);
    expect(l.y).toBeGreaterThanOrEqual(seen.box.y);
    expect(l.y + l.h).toBeLessThanOrEqual(seen.box.y + seen.box.h);
  }
  for (let i = 0; i < seen.labels.length; i++) {
    for (let j = i + 1; j < seen.labels.length; j++) {
      const a = seen.labels[i];
      const b = seen.labels[j];
      if (a && b) expect(overlaps(a, b), `offset labels ${a.text} and ${b.text} overlap`).toBe(false);
    }
  }
  for (let i = 0; i < seen.texts.length; i++) {
    for (let j = i + 1; j < seen.texts.length; j++) {
      const a = seen.texts[i];
      const b = seen.texts[j];
      if (a && b) expect(overlaps(a, b), `labels "${a.text}" and "${b.text}" overlap`).toBe(false);
    }
  }
  // each region is drawn where its label says: it hit-tests as itself, and its start label is
  // centred on its top edge
  const starts = seen.labels.filter((l) => l.role === "start");
  expect(starts.map((l) => l.offset)).toEqual(seen.regions.map((r) => r.start));
  for (let i = 0; i < seen.regions.length; i++) {
    const r = seen.regions[i];
    const l = starts[i];
    if (!r || !l) continue;
    expect(r.hit, `region ${r.kind} at ${r.start} is hit where it is drawn`).toBe(r.start);
    expect(Math.abs(l.y + l.h / 2 - r.top)).toBeLessThan(8);
  }
  // the file-end label sits on the bottom edge of the last region
  const end = seen.labels.find((l) => l.role === "file-end");
  const last = seen.regions.at(-1);
  expect(end && last && Math.abs(end.y + end.h / 2 - last.bottom)).toBeLessThan(8);
  return seen.labels.map((l) => l.offset);
}

async function layoutAndInspect(file: string, offset: string) {
  const svg = `${file}.svg`;
  const html = `${file}.html`;
  const r = await run(["layout", file, "--offset", offset, "--svg", svg, "--html", html]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const ins = await run(["inspect", file, "--offset", offset, "--json"]);
  expect(ins.code).toBe(0);
  return { svg, html, inspect: JSON.parse(ins.stdout) as InspectReport };
}

const reference = await saveFile(dir, [{ idstr: "r", image: specImage() }]);
const at0x1000 = await saveFile(dir, [{ idstr: "r", image: specImage() }], { offset: 0x1000n });
const twoBlocks = await saveFile(
  dir,
  [
    { idstr: "r", image: specImage() },
    { idstr: "/rom@etc/acpi/tables", image: new Uint8Array(32 * PAGE).fill(0x42) },
  ],
  { partSections: 3 },
);

describe("mrc layout (no browser)", () => {
  it("needs --svg or --html: one line, exit 2", async () => {
    const r = await run(["layout", reference]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("mrc: usage: layout needs --svg OUT or --html OUT\n");
  });

  it("labels in the SVG source are the offsets inspect reports", async () => {
    const { svg, inspect } = await layoutAndInspect(reference, "0");
    const text = await readFile(svg, "utf8");
    const labelled = [...text.matchAll(/class="offset" data-offset="(0x[0-9a-f]+)"/g)].map((m) => m[1]);
    expect(labelled).toEqual(offsetsFromInspect(inspect));
    expect(labelled).toEqual(SPEC_8_1);
  });
});

describeChromium("mrc layout in headless Chromium", () => {
  it("the 8 MiB reference file: renders, offsets are spec 8.1's and inspect's", async () => {
    const { svg, html, inspect } = await layoutAndInspect(reference, "0");
    expect(offsetsFromInspect(inspect)).toEqual(SPEC_8_1);
    await withBrowser(async (ctx) => {
      const page = await ctx.newPage();
      await page.goto(pathToFileURL(svg).href);
      const labelled = checkRendering(await look(page));
      expect(labelled).toEqual(SPEC_8_1);
      // a scale break on the 8 MiB page array, and the presence grid counts spec 8's 1486 pages
      const meta = await page.evaluate(() => {
        const { document } = globalThis as unknown as DomGlobals;
        return {
          breaks: [...document.querySelectorAll('g.region[data-scale="break"]')].map((g) =>
            g.getAttribute("data-kind"),
          ),
          present: document.querySelector("g.presence")?.getAttribute("data-present"),
          cells: [...document.querySelectorAll("g.presence rect")].length,
        };
      });
      expect(meta).toEqual({ breaks: ["pages"], present: "1486", cells: 2048 });

      await page.goto(pathToFileURL(html).href);
      expect(checkRendering(await look(page))).toEqual(SPEC_8_1);
      const table = await page.evaluate(() => {
        const { document } = globalThis as unknown as DomGlobals;
        return [...document.querySelectorAll("tbody tr")].map((tr) => tr.querySelector("td")?.textContent);
      });
      expect(table).toEqual(SPEC_8_1.slice(0, -1));
      await page.close();
    });
  });

  it("the same VM at file: offset 0x1000", async () => {
    const { svg, inspect } = await layoutAndInspect(at0x1000, "0x1000");
    expect(offsetsFromInspect(inspect)).toEqual(SPEC_AT_0x1000);
    await withBrowser(async (ctx) => {
      const page = await ctx.newPage();
      await page.goto(pathToFileURL(svg).href);
      expect(checkRendering(await look(page))).toEqual(SPEC_AT_0x1000);
      await page.close();
    });
  });

  it("two blocks and three PART sections: every label is one inspect reports", async () => {
    const { svg, inspect } = await layoutAndInspect(twoBlocks, "0");
    // spec 2.3: each block takes a fresh 1 MiB-aligned slot; the small block's pages follow r's
    expect(inspect.ramBlocks.map((b) => b.pagesOffset)).toEqual(["0x100000", "0xa00000"]);
    await withBrowser(async (ctx) => {
      const page = await ctx.newPage();
      await page.goto(pathToFileURL(svg).href);
      expect(checkRendering(await look(page))).toEqual(offsetsFromInspect(inspect));
      await page.screenshot({ path: join(dir, "two-blocks.png"), timeout: 30_000 });
      await page.close();
    });
  });
});
