// Expected-failure lists, one per implementation and version (like protobuf's conformance failure
// lists): one result id (`<case id>:<role>`) per line, optionally followed by `# <message prefix>`.
// Blank lines and lines starting with `#` are comments. Everything not listed is expected to pass.
//
// A result matches its expectation when:
// - not listed: pass, nonstrict or skip
// - listed: fail, and the message starts with the listed prefix (if one is given)
// An unexpected failure, an unexpected pass, a changed message, or a listed result that was skipped
// or did not run at all fails the run, so the list cannot go stale.
import type { Status } from "./results.js";

export interface ExpectationEntry {
  id: string;
  /** the verdict message must start with this */
  messagePrefix?: string;
  line: number;
}

export interface ExpectationFile {
  /** header comment lines (kept when the file is rewritten) */
  header: string[];
  entries: Map<string, ExpectationEntry>;
}

export class ExpectationFileError extends Error {
  override readonly name = "ExpectationFileError";
}

/** `<case id>:<role>`; capability case ids carry `-` and `+` (`caps.matrix.mapped-ram+multifd.file.none`). */
const RESULT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9.+-]*:[a-z]+$/;

export function parseExpectations(text: string, source = "expectations"): ExpectationFile {
  const header: string[] = [];
  const entries = new Map<string, ExpectationEntry>();
  const lines = text.split("\n");
  let inHeader = true;
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line.trim() === "" || line.trimStart().startsWith("#")) {
      if (inHeader && line.trimStart().startsWith("#")) header.push(line);
      return;
    }
    inHeader = false;
    const hash = line.indexOf("#");
    const id = (hash < 0 ? line : line.slice(0, hash)).trim();
    const prefix = hash < 0 ? undefined : line.slice(hash + 1).trim();
    if (!RESULT_ID_RE.test(id)) {
      throw new ExpectationFileError(`${source}:${i + 1}: "${id}" is not a result id (<case id>:<role>)`);
    }
    if (entries.has(id)) throw new ExpectationFileError(`${source}:${i + 1}: ${id} is listed twice`);
    entries.set(id, { id, line: i + 1, ...(prefix ? { messagePrefix: prefix } : {}) });
  });
  return { header, entries };
}

export function formatExpectations(file: ExpectationFile): string {
  const body = [...file.entries.values()]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((e) => (e.messagePrefix ? `${e.id}  # ${e.messagePrefix}` : e.id));
  return `${[...file.header, ...body].join("\n")}\n`;
}

export interface ExpectationMatch {
  expected: "pass" | "fail";
  /** the listed prefix, when listed with one */
  expectedMessage?: string;
  ok: boolean;
  /** why it does not match */
  problem?: "unexpected failure" | "unexpected pass" | "message changed" | "listed but skipped";
}

export function matchExpectation(
  status: Status,
  message: string,
  entry: ExpectationEntry | undefined,
): ExpectationMatch {
  if (entry === undefined) {
    return status === "fail"
      ? { expected: "pass", ok: false, problem: "unexpected failure" }
      : { expected: "pass", ok: true };
  }
  const withPrefix = entry.messagePrefix === undefined ? {} : { expectedMessage: entry.messagePrefix };
  if (status === "skip") return { expected: "fail", ...withPrefix, ok: false, problem: "listed but skipped" };
  if (status !== "fail") return { expected: "fail", ...withPrefix, ok: false, problem: "unexpected pass" };
  if (entry.messagePrefix !== undefined && !message.startsWith(entry.messagePrefix)) {
    return { expected: "fail", ...withPrefix, ok: false, problem: "message changed" };
  }
  return { expected: "fail", ...withPrefix, ok: true };
}

/** A message prefix for a rewritten list: the message up to 120 characters. */
export function prefixOf(message: string): string {
  const m = message.replace(/\s+/g, " ").trim();
  return m.length > 120 ? m.slice(0, 120) : m;
}

/**
 * The list after a run: every failing result, with its message; listed ids that did not produce a
 * non-skip result in this run are kept as they were.
 */
export function updatedExpectations(
  old: ExpectationFile,
  results: readonly { id: string; status: Status; message: string }[],
  defaultHeader: string[],
): ExpectationFile {
  const entries = new Map<string, ExpectationEntry>();
  const decided = new Set<string>();
  for (const r of results) {
    if (r.status === "skip") continue;
    decided.add(r.id);
    if (r.status === "fail") entries.set(r.id, { id: r.id, line: 0, messagePrefix: prefixOf(r.message) });
  }
  for (const [id, e] of old.entries) if (!decided.has(id)) entries.set(id, e);
  return { header: old.header.length > 0 ? old.header : defaultHeader, entries };
}
