// The package as a library: every "exports" entry names a built module with types, and a consumer
// can import it by the package name (Node resolves the package's own name through "exports").
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as {
  name: string;
  exports: Record<string, { types: string; default: string } | string>;
};
const entries = Object.entries(pkg.exports).filter(
  (e): e is [string, { types: string; default: string }] => typeof e[1] !== "string",
);

describe("package exports", () => {
  it("has the reader/writer, oracle, conformance runner, diff and layout", () => {
    expect(entries.map(([k]) => k)).toEqual(["./impl", "./oracle", "./conformance", "./diff", "./layout"]);
  });

  it.each(entries)("%s is built from src/<name>/index.ts and ships its types", (key, target) => {
    const name = key.slice(2);
    expect(target).toEqual({ types: `./dist/${name}/index.d.ts`, default: `./dist/${name}/index.js` });
    expect(existsSync(`${root}src/${name}/index.ts`), `src/${name}/index.ts exists`).toBe(true);
  });

  it("a consumer imports the reader, the diff and the layout by package name", async () => {
    const script = [
      `const impl = await import("${pkg.name}/impl");`,
      `const diff = await import("${pkg.name}/diff");`,
      `const layout = await import("${pkg.name}/layout");`,
      "console.log([typeof impl.readMigrationFile, typeof impl.writeMigrationFile, typeof diff.diffFiles, typeof layout.renderSvg].join(' '));",
    ].join("\n");
    const r = await execa(process.execPath, ["--input-type=module", "-e", script], {
      cwd: root,
      reject: false,
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("function function function function");
  });
});
