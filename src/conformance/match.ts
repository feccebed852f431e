// `--cases PATTERN`: comma-separated globs over case ids, `*` matches any run of characters
// (`qemu.none.*`, `*.truncated.*,writer.header.*`). A pattern without `*` matches that id and its
// dotted descendants (`qemu.none.spec8` also selects `qemu.none.spec8.multifd2`).

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(glob.includes("*") ? `^${body}$` : `^${body}(\\..*)?$`);
}

/** A predicate over case ids; undefined or empty text selects everything. */
export function idMatcher(patterns: string | undefined): (id: string) => boolean {
  const list = (patterns ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (list.length === 0) return () => true;
  const res = list.map(globToRegExp);
  return (id) => res.some((re) => re.test(id));
}
