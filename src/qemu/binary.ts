// Locating qemu-system-x86_64 and reading its version (`--version`, printed by softmmu/vl.c: version()).
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join, resolve } from "node:path";
import { execa } from "execa";
import { QemuError } from "./errors.js";
import { QEMU_EXECUTABLE } from "./executable.js";

export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
}

export interface QemuBinary {
  /** absolute path of the executable */
  path: string;
  version: QemuVersion;
  /** the full `--version` output, e.g. `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2...)\n...` */
  text: string;
  /** version >= 9.0: the `mapped-ram` migration capability exists */
  hasMappedRam: boolean;
}

/** The first QEMU release with the `mapped-ram` capability. */
export const MAPPED_RAM_MIN_VERSION: Readonly<QemuVersion> = Object.freeze({ major: 9, minor: 0, micro: 0 });

/** Environment variable naming the QEMU binary to use (a path); overrides PATH lookup. */
export const QEMU_ENV = "MRC_QEMU";
/** Executable looked up on PATH when `MRC_QEMU` is unset. */
export { QEMU_EXECUTABLE };

/** `a < b` → negative, equal → 0, `a > b` → positive. */
export function compareVersions(a: QemuVersion, b: QemuVersion): number {
  return a.major - b.major || a.minor - b.minor || a.micro - b.micro;
}

/** `QEMU emulator version 10.0.2 (...)` → `{major: 10, minor: 0, micro: 2}`; undefined if not that shape. */
export function parseQemuVersion(text: string): QemuVersion | undefined {
  const m = /^QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?/m.exec(text);
  if (m === null) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3] ?? "0") };
}

/** `10.0.2` */
export function formatVersion(v: QemuVersion): string {
  return `${v.major}.${v.minor}.${v.micro}`;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function searchPath(name: string, pathVar: string | undefined): Promise<string | undefined> {
  for (const dir of (pathVar ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return resolve(candidate);
  }
  return undefined;
}

/** Runs `<path> --version` and builds a `QemuBinary`; throws `ERR_QEMU_BAD_VERSION` if that fails. */
export async function probeQemu(path: string): Promise<QemuBinary> {
  const result = await execa(path, ["--version"], { reject: false, timeout: 10_000, stdin: "ignore" });
  const text = typeof result.stdout === "string" ? result.stdout : "";
  const version = result.exitCode === 0 ? parseQemuVersion(text) : undefined;
  if (version === undefined) {
    const why =
      result.exitCode === 0
        ? `"--version" printed no "QEMU emulator version X.Y.Z" line. Received ${JSON.stringify(text.slice(0, 80))}`
        : `"--version" failed: ${result.shortMessage}`;
    throw new QemuError("ERR_QEMU_BAD_VERSION", { subject: path, rule: why, exitCode: result.exitCode });
  }
  return {
    path,
    version,
    text,
    hasMappedRam: compareVersions(version, MAPPED_RAM_MIN_VERSION) >= 0,
  };
}

export interface FindQemuOptions {
  /** environment to read `MRC_QEMU` and `PATH` from; default `process.env` */
  env?: NodeJS.ProcessEnv;
}

/**
 * Finds QEMU: `MRC_QEMU` (a path) if set, else `qemu-system-x86_64` on PATH. Returns undefined when there
 * is none on PATH. An explicit `MRC_QEMU` that is not a runnable QEMU is a configuration error and throws
 * (`ERR_QEMU_NOT_FOUND` / `ERR_QEMU_BAD_VERSION`) instead of silently skipping suites. Older versions are
 * returned with `hasMappedRam: false`.
 */
export async function findQemu(options: FindQemuOptions = {}): Promise<QemuBinary | undefined> {
  const env = options.env ?? process.env;
  const explicit = env[QEMU_ENV];
  if (explicit !== undefined && explicit !== "") {
    const path = resolve(explicit);
    if (!(await isExecutable(path))) {
      throw new QemuError("ERR_QEMU_NOT_FOUND", {
        subject: path,
        rule: `${QEMU_ENV} must name an executable file`,
      });
    }
    return probeQemu(path);
  }
  const found = await searchPath(QEMU_EXECUTABLE, env.PATH);
  return found === undefined ? undefined : probeQemu(found);
}

/** Like `findQemu`, but throws unless a QEMU of at least `minVersion` (default 9.0, mapped-ram) exists. */
export async function requireQemu(
  options: FindQemuOptions & { minVersion?: QemuVersion } = {},
): Promise<QemuBinary> {
  const min = options.minVersion ?? MAPPED_RAM_MIN_VERSION;
  const qemu = await findQemu(options);
  if (qemu === undefined) {
    throw new QemuError("ERR_QEMU_NOT_FOUND", {
      subject: QEMU_EXECUTABLE,
      rule: `not on PATH; set ${QEMU_ENV} or run scripts/install-qemu.sh`,
    });
  }
  if (compareVersions(qemu.version, min) < 0) {
    throw new QemuError("ERR_QEMU_TOO_OLD", {
      subject: qemu.path,
      rule: `version must be >= ${formatVersion(min)}. Received ${formatVersion(qemu.version)}`,
    });
  }
  return qemu;
}
