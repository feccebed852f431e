// The oracle and the reference implementation stay independent: src/oracle imports nothing from
// src/impl (nor anything outside src/oracle but node: builtins), src/impl nothing from src/oracle,
// and the oracle suites (except the differential and CLI tests) load no src/impl code at all.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const ORACLE = join(ROOT, "src/oracle");
const IMPL = join(ROOT, "src/impl");

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Module specifiers of static imports/exports and dynamic import() with a string literal. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;
  for (const m of source.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3]) as string);
  return out;
}

/** A relative `.js` specifier resolved to the `.ts` file it names. */
function resolveTs(from: string, spec: string): string {
  return resolve(dirname(from), spec).replace(/\.js$/, ".ts");
}

function inside(dir: string, file: string): boolean {
  const r = relative(dir, file);
  return !r.startsWith("..") && !r.startsWith("/");
}

describe("import boundaries", () => {
  it("the specifier scanner sees static, re-export, side-effect and dynamic imports", () => {
    const src = `import { a } from "./a.js";\nimport type { B } from '../b.js';\nexport { c } from "./c.js";\nimport "./d.js";\nconst e = await import("./e.js");`;
    expect(specifiers(src)).toEqual(["./a.js", "../b.js", "./c.js", "./d.js", "./e.js"]);
  });

  it("src/oracle imports only src/oracle and node: builtins", () => {
    const files = tsFiles(ORACLE);
    expect(files.length).toBeGreaterThan(5);
    const bad: string[] = [];
    for (const f of files) {
      for (const s of specifiers(readFileSync(f, "utf8"))) {
        const ok = s.startsWith("node:") || (s.startsWith(".") && inside(ORACLE, resolveTs(f, s)));
        if (!ok) bad.push(`${relative(ROOT, f)} imports ${s}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("src/impl imports nothing from src/oracle", () => {
    const bad: string[] = [];
    for (const f of tsFiles(IMPL)) {
      for (const s of specifiers(readFileSync(f, "utf8"))) {
        const hit = s.startsWith(".") ? inside(ORACLE, resolveTs(f, s)) : s.includes("/oracle");
        if (hit) bad.push(`${relative(ROOT, f)} imports ${s}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("the oracle suites load no src/impl code (except differential.test.ts and cli.test.ts)", () => {
    const allowed = new Set(["differential.test.ts", "cli.test.ts"]);
    const roots = tsFiles(join(ROOT, "suites/oracle")).filter(
      (f) => !allowed.has(relative(join(ROOT, "suites/oracle"), f)),
    );
    const bad: string[] = [];
    for (const start of roots) {
      const seen = new Set<string>();
      const todo = [start];
      while (todo.length > 0) {
        const f = todo.pop() as string;
        if (seen.has(f) || !existsSync(f)) continue;
        seen.add(f);
        if (inside(IMPL, f)) bad.push(`${relative(ROOT, start)} loads ${relative(ROOT, f)}`);
        for (const s of specifiers(readFileSync(f, "utf8")))
          if (s.startsWith(".")) todo.push(resolveTs(f, s));
      }
    }
    expect(bad).toEqual([]);
  });
});
