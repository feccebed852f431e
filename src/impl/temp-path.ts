// Outputs are written under a temp name in the target's directory and renamed only on success. The temp
// name must itself be a valid file name: a target (or block file) name may already be NAME_MAX long.

import { basename, dirname, join } from "node:path";

/** Longest file name most filesystems take (NAME_MAX). */
const NAME_MAX = 255;

/**
 * `DIR/.NAME.mrc-TAG-PID.partial` beside `target`, NAME cut so the whole name fits in NAME_MAX. Names
 * start with "." and end with ".partial", so a listing of the directory tells them from finished outputs.
 */
export function tempPathFor(target: string, tag: string, pid: number = process.pid): string {
  const suffix = `.mrc-${tag}-${pid}.partial`;
  const name = basename(target).slice(0, NAME_MAX - 1 - suffix.length);
  return join(dirname(target), `.${name}${suffix}`);
}

/** True for a temp name made by tempPathFor (any tag) for process `pid`. */
export function isTempNameOf(name: string, pid: number = process.pid): boolean {
  return name.startsWith(".") && name.endsWith(`-${pid}.partial`) && name.includes(".mrc-");
}
