// Headless Chromium for the suites that check what a person would see: Debian's chromium driven by
// playwright-core (which never downloads a browser). Without chromium the suite is skipped with one
// line, or fails under MRC_REQUIRE_CHROMIUM=1 (CI installs it).
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { describe, it } from "vitest";

export const CHROMIUM = process.env.MRC_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_MISSING_MESSAGE = `browser suites skipped: no ${CHROMIUM} (apt-get install -y chromium, or set MRC_CHROMIUM)`;

const present = existsSync(CHROMIUM);
const required = process.env.MRC_REQUIRE_CHROMIUM === "1";
let announced = false;

/** The flags this machine needs; a fresh --user-data-dir is added per launch. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** `describe` for suites that need Chromium (see the module comment). */
export function describeChromium(name: string, fn: () => void): void {
  if (!present && required) {
    describe(name, () => {
      it("has Chromium (MRC_REQUIRE_CHROMIUM=1)", () => {
        throw new Error(`MRC_REQUIRE_CHROMIUM=1 but ${CHROMIUM} does not exist`);
      });
    });
    return;
  }
  if (!present && !announced) {
    announced = true;
    console.warn(CHROMIUM_MISSING_MESSAGE);
  }
  describe.skipIf(!present)(name, fn);
}

/** Runs `body` with a fresh browser context (its own user-data-dir), closed and removed afterwards. */
export async function withBrowser<T>(body: (ctx: BrowserContext) => Promise<T>): Promise<T> {
  const profile = await mkdtemp(join(tmpdir(), "mrc-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1100, height: 1400 },
    timeout: 60_000,
  });
  try {
    return await body(ctx);
  } finally {
    await ctx.close();
    await rm(profile, { recursive: true, force: true });
  }
}
