// Building a qemu-system-x86_64 command line (softmmu/vl.c options; QemuOpts syntax of util/qemu-option.c,
// where a literal comma inside a value is written as ",,").

/** A value in a QemuOpts list (`key=value,...`). */
export type QemuOptValue = string | number | bigint | boolean;

/** `-object memory-backend-file,id=ID,size=S,mem-path=PATH,share=on` — RAM backed by an image file. */
export interface MemoryBackendFile {
  /** object id; with `-M none,memory-backend=ID` it is also the RAM block's `idstr` */
  id: string;
  /** size in bytes (or a QEMU size string such as `8M`) */
  size: bigint | number | string;
  /** the image file; its bytes are the guest RAM */
  memPath: string;
  /** `share=on` (default true): QEMU maps the file MAP_SHARED, so loaded RAM lands in the file */
  share?: boolean;
  /** more properties, e.g. `{ prealloc: false, "x-use-canonical-path-for-ramblock-id": false }` */
  props?: Readonly<Record<string, QemuOptValue>>;
}

/** A file descriptor handed to QEMU at start (`-add-fd fd=N,set=S[,opaque=O]`), inherited as fd N ≥ 3. */
export interface PassedFd {
  /** an open fd in this process (e.g. from `fs.openSync`); QEMU gets a copy, the caller closes its own */
  fd: number;
  /** fdset id; the fd is then usable as `/dev/fdset/<set>` (e.g. `file:/dev/fdset/1,offset=0x1000`) */
  set: number;
  opaque?: string;
}

/** What `buildQemuArgs` needs; a subset of `QemuStartOptions`. */
export interface QemuCommandLineOptions {
  /** machine type, optionally with properties: `none`, `pc`, `q35`, `none,suppress-vmdesc=on` */
  machine: string;
  /** more machine properties, appended to `-M` (e.g. `{ "suppress-vmdesc": true }`) */
  machineProps?: Readonly<Record<string, QemuOptValue>>;
  /** backend id to use as machine RAM: adds `memory-backend=ID` to `-M` */
  memoryBackend?: string;
  memoryBackends?: readonly MemoryBackendFile[];
  /** `-m` value; only used when no memory backend is given (default: QEMU's default) */
  memory?: string;
  /** accelerator (default `tcg`) */
  accel?: string;
  uuid?: string;
  /** add `-incoming defer` (then use `migrate-incoming`) */
  incoming?: boolean;
  /** `-global driver.property=value` for each entry, keyed `driver.property` */
  globals?: Readonly<Record<string, QemuOptValue>>;
  /** fds passed with `-add-fd`; `fd` numbers are the child's, see `childFdNumbers` */
  fds?: readonly PassedFd[];
  /** appended last, verbatim */
  extraArgs?: readonly string[];
}

/** Escapes a QemuOpts value: every `,` becomes `,,`. */
export function qemuOptEscape(value: string): string {
  return value.replaceAll(",", ",,");
}

/** `on`/`off` for booleans, decimal for numbers, escaped text otherwise. */
export function formatOptValue(value: QemuOptValue): string {
  if (typeof value === "boolean") return value ? "on" : "off";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return qemuOptEscape(value);
}

/** `{a: 1, b: true}` → `a=1,b=on` */
export function formatOpts(props: Readonly<Record<string, QemuOptValue>>): string {
  return Object.entries(props)
    .map(([key, value]) => `${key}=${formatOptValue(value)}`)
    .join(",");
}

/** The fd number the i-th passed fd gets in the child (stdin/stdout/stderr are 0–2). */
export function childFdNumber(index: number): number {
  return 3 + index;
}

/**
 * Builds the argument vector (without the binary) for a stopped, display-less, default-less QEMU with a
 * QMP server on `qmpSocket`. With a memory backend, no `-m` is passed: QEMU takes the RAM size from it.
 */
export function buildQemuArgs(options: QemuCommandLineOptions, qmpSocket: string): string[] {
  const machineProps: Record<string, QemuOptValue> = { ...options.machineProps };
  if (options.memoryBackend !== undefined) machineProps["memory-backend"] = options.memoryBackend;
  const machineExtra = formatOpts(machineProps);
  const machine = machineExtra === "" ? options.machine : `${options.machine},${machineExtra}`;

  const args: string[] = ["-M", machine, "-S", "-nodefaults", "-display", "none"];
  args.push("-qmp", `unix:${qemuOptEscape(qmpSocket)},server=on,wait=off`);
  const backends = options.memoryBackends ?? [];
  for (const backend of backends) {
    const props: Record<string, QemuOptValue> = {
      id: backend.id,
      size: backend.size,
      "mem-path": backend.memPath,
      share: backend.share ?? true,
      ...backend.props,
    };
    args.push("-object", `memory-backend-file,${formatOpts(props)}`);
  }
  if (backends.length === 0 && options.memory !== undefined) args.push("-m", options.memory);
  args.push("-accel", options.accel ?? "tcg");
  if (options.uuid !== undefined) args.push("-uuid", options.uuid);
  (options.fds ?? []).forEach((passed, index) => {
    const props: Record<string, QemuOptValue> = { fd: childFdNumber(index), set: passed.set };
    if (passed.opaque !== undefined) props.opaque = passed.opaque;
    args.push("-add-fd", formatOpts(props));
  });
  for (const [key, value] of Object.entries(options.globals ?? {})) {
    args.push("-global", `${key}=${formatOptValue(value)}`);
  }
  if (options.incoming === true) args.push("-incoming", "defer");
  args.push(...(options.extraArgs ?? []));
  return args;
}
