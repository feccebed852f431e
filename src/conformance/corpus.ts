// Reading the corpus: golden/cases/<id>.json, checked for shape, and golden files rebuilt from their
// blobs on demand (each distinct file once per run).
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CASE_ID_RE, type Case, type FileCase } from "./model.js";
import { rebuildFromBlob } from "./storage.js";

export class CorpusError extends Error {
  override readonly name = "CorpusError";
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function need(cond: boolean, where: string, what: string): asserts cond {
  if (!cond) throw new CorpusError(`${where}: ${what}`);
}

const VERDICTS = new Set(["valid", "nonstrict", "invalid"]);
const HEX = /^0x[0-9a-f]+$/;
const SHA = /^[0-9a-f]{64}$/;

/** Checks one parsed case file; returns it typed. */
export function validateCase(v: unknown, where: string): Case {
  need(isObject(v), where, "must be a JSON object");
  need(
    typeof v.id === "string" && CASE_ID_RE.test(v.id),
    where,
    `id ${JSON.stringify(v.id)} is not a dotted id`,
  );
  need(
    typeof v.description === "string" && v.description !== "",
    where,
    "description must be a non-empty string",
  );
  need(
    Array.isArray(v.checks) && v.checks.every((c) => typeof c === "string"),
    where,
    "checks must be a list of strings",
  );
  need(isObject(v.params), where, "params must be an object");
  need(isObject(v.provenance), where, "provenance must be an object");
  need(isObject(v.expect), where, "expect must be an object");
  if (v.kind === "sequence") {
    const p = v.params;
    need(
      Array.isArray(p.steps) && Array.isArray(p.fds) && typeof p.machine === "string",
      where,
      "a sequence needs machine, fds and steps",
    );
    need(v.expect.survives === true, where, "a sequence expects survives: true");
    return v as unknown as Case;
  }
  need(v.kind === "file", where, `kind must be "file" or "sequence"`);
  const f = v.file;
  need(isObject(f), where, "file must be an object");
  need(
    typeof f.blob === "string" && /^blobs\/[0-9a-f]{64}\.mrx\.gz$/.test(f.blob),
    where,
    "file.blob must be blobs/<sha256>.mrx.gz",
  );
  need(typeof f.sha256 === "string" && SHA.test(f.sha256), where, "file.sha256 must be 64 hex digits");
  need(Number.isSafeInteger(f.size) && (f.size as number) >= 0, where, "file.size must be a byte count");
  need(typeof f.offset === "string" && HEX.test(f.offset), where, "file.offset must be 0x hex");
  const p = v.provenance;
  need(p.by === "qemu" || p.by === "writer", where, `provenance.by must be "qemu" or "writer"`);
  if (p.by === "qemu") {
    need(
      typeof p.version === "string" && Array.isArray(p.argv) && Array.isArray(p.qmp),
      where,
      "QEMU provenance needs version, argv and qmp",
    );
    need(
      p.compare === "bytes" || p.compare === "ram" || p.compare === "validity",
      where,
      "provenance.compare must be bytes, ram or validity",
    );
    need(p.compare !== "ram" || isObject(f.prefix), where, "compare: ram needs file.prefix");
  } else {
    need(Array.isArray(p.mutations), where, "writer provenance needs mutations");
  }
  const e = v.expect;
  need(
    typeof e.verdict === "string" && VERDICTS.has(e.verdict),
    where,
    "expect.verdict must be valid, nonstrict or invalid",
  );
  need(
    Array.isArray(e.findings) && e.findings.every((x) => typeof x === "string"),
    where,
    "expect.findings must be a list of ids",
  );
  if (e.verdict !== "invalid") {
    need(
      isObject(e.layout) && Array.isArray(e.layout.blocks),
      where,
      "a valid or nonstrict case needs expect.layout",
    );
    need(Array.isArray(e.ram), where, "a valid or nonstrict case needs expect.ram");
    for (const r of e.ram as unknown[]) {
      need(
        isObject(r) && typeof r.idstr === "string" && typeof r.sha256 === "string" && SHA.test(r.sha256),
        where,
        "expect.ram entries need idstr and sha256",
      );
    }
  }
  return v as unknown as Case;
}

/** All cases of a corpus, sorted by id. */
export async function loadCorpus(corpusDir: string): Promise<Case[]> {
  const dir = join(corpusDir, "cases");
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
  } catch (e) {
    throw new CorpusError(`${dir}: ${(e as Error).message}`);
  }
  const cases: Case[] = [];
  for (const name of names) {
    const where = join(dir, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(where, "utf8"));
    } catch (e) {
      throw new CorpusError(`${where}: ${(e as Error).message}`);
    }
    const c = validateCase(parsed, where);
    need(`${c.id}.json` === name, where, `the file name must be ${c.id}.json`);
    cases.push(c);
  }
  return cases;
}

/** Rebuilds golden files into a directory, each distinct file once. */
export class GoldenFiles {
  readonly #pending = new Map<string, Promise<string>>();
  constructor(
    readonly corpusDir: string,
    readonly workDir: string,
  ) {}

  /** The path of the rebuilt golden of `c` (sha256-checked). */
  path(c: FileCase): Promise<string> {
    let p = this.#pending.get(c.file.sha256);
    if (p === undefined) {
      const out = join(this.workDir, `${c.file.sha256}.mig`);
      p = rebuildFromBlob(join(this.corpusDir, c.file.blob), c.file.sha256, out).then(() => out);
      this.#pending.set(c.file.sha256, p);
    }
    return p;
  }
}
