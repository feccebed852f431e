// migration/migration.c: migrate_uri_parse; util/qemu-sockets.c: socket_parse, inet_parse, vsock_parse;
// migration/file.c: file_parse_offset. The old `uri` syntax of `migrate` / `migrate-incoming`.
import { UnsupportedInputError } from "./state.js";
import { qemuStrtosz, STRERROR } from "./strtosz.js";

export type SocketAddress =
  | { type: "inet"; host: string; port: string; ipv6: boolean }
  | { type: "unix"; path: string }
  | { type: "vsock"; cid: string; port: string }
  | { type: "fd"; name: string };

/** QAPI `MigrationAddress` as the model needs it. */
export type MigrationAddress =
  | { transport: "socket"; socket: SocketAddress }
  | { transport: "exec"; command: string }
  | { transport: "rdma"; host: string; port: string }
  | { transport: "file"; filename: string; offset: bigint };

/** A failed parse: QEMU's text and the rule id that produced it. */
export interface UriError {
  rule: string;
  error: string;
}

const OFFSET_OPTION = ",offset=";

/** The URI rules as table rows (the parser below reports these ids); `%s` marks a formatted value. */
export const URI_RULES: readonly { id: string; source: string; when: string; text: string }[] = [
  {
    id: "uri.unknownProtocol",
    source: "migration/migration.c: migrate_uri_parse",
    when: "the URI starts with none of exec: rdma: tcp: unix: vsock: fd: file:",
    text: "unknown migration protocol: %s",
  },
  {
    id: "uri.tcp.parse",
    source: "util/qemu-sockets.c: inet_parse",
    when: "tcp: without HOST:PORT (or :PORT, or [IPV6]:PORT)",
    text: "error parsing address '%s' / error parsing port in address '%s' / error parsing IPv6 address '%s'",
  },
  {
    id: "uri.rdma.parse",
    source: "util/qemu-sockets.c: inet_parse",
    when: "rdma: without HOST:PORT",
    text: "error parsing address '%s'",
  },
  {
    id: "uri.unix.empty",
    source: "util/qemu-sockets.c: socket_parse",
    when: "unix: with no path",
    text: "invalid Unix socket address",
  },
  {
    id: "uri.fd.empty",
    source: "util/qemu-sockets.c: socket_parse",
    when: "fd: with no name",
    text: "invalid file descriptor address",
  },
  {
    id: "uri.vsock.parse",
    source: "util/qemu-sockets.c: vsock_parse",
    when: "vsock: without CID:PORT",
    text: "error parsing address '%s'",
  },
  {
    id: "uri.vsock.trailing",
    source: "util/qemu-sockets.c: vsock_parse",
    when: "vsock: with text after the port (a comma, or a port over 32 characters)",
    text: "trailing characters in address '%s'",
  },
  {
    id: "uri.file.badOffset",
    source: "migration/file.c: file_parse_offset",
    when: "file:PATH,offset=N where qemu_strtosz refuses N (EINVAL, or ERANGE if nothing follows the number)",
    text: "file URI has bad offset %s: Invalid argument / ...: Numerical result out of range",
  },
];

/** `sscanf("%N[^stop]")`: up to `max` characters other than `stop`; at least one, else undefined. */
function scanSet(s: string, from: number, max: number, stop: string): string | undefined {
  let i = from;
  while (i < s.length && i - from < max && !stop.includes(s[i] as string)) i++;
  return i === from ? undefined : s.slice(from, i);
}

function inetParse(str: string, rdma: boolean): { host: string; port: string; ipv6: boolean } | UriError {
  const rule = rdma ? "uri.rdma.parse" : "uri.tcp.parse";
  let host: string | undefined;
  let port: string | undefined;
  let end: number;
  if (str.startsWith(":")) {
    host = "";
    port = scanSet(str, 1, 32, ",");
    if (port === undefined) return { rule, error: `error parsing port in address '${str}'` };
    end = 1 + port.length;
  } else if (str.startsWith("[")) {
    host = scanSet(str, 1, 64, "]");
    const close = 1 + (host?.length ?? 0);
    port = str.slice(close, close + 2) === "]:" ? scanSet(str, close + 2, 32, ",") : undefined;
    if (host === undefined || port === undefined) {
      return { rule, error: `error parsing IPv6 address '${str}'` };
    }
    end = close + 2 + port.length;
  } else {
    host = scanSet(str, 0, 64, ":");
    const colon = host?.length ?? 0;
    port = str[colon] === ":" ? scanSet(str, colon + 1, 32, ",") : undefined;
    if (host === undefined || port === undefined) return { rule, error: `error parsing address '${str}'` };
    end = colon + 1 + port.length;
  }
  if (end !== str.length) {
    throw new UnsupportedInputError(`inet address options or over-long fields are not modelled: "${str}"`);
  }
  return { host, port, ipv6: str.startsWith("[") };
}

function socketParse(uri: string): SocketAddress | UriError {
  if (uri.startsWith("unix:")) {
    if (uri.length === 5) return { rule: "uri.unix.empty", error: "invalid Unix socket address" };
    return { type: "unix", path: uri.slice(5) };
  }
  if (uri.startsWith("fd:")) {
    if (uri.length === 3) return { rule: "uri.fd.empty", error: "invalid file descriptor address" };
    return { type: "fd", name: uri.slice(3) };
  }
  if (uri.startsWith("vsock:")) {
    const str = uri.slice(6);
    const cid = scanSet(str, 0, 32, ":");
    const colon = cid?.length ?? 0;
    const port = str[colon] === ":" ? scanSet(str, colon + 1, 32, ",") : undefined;
    if (cid === undefined || port === undefined) {
      return { rule: "uri.vsock.parse", error: `error parsing address '${str}'` };
    }
    if (colon + 1 + port.length !== str.length) {
      return { rule: "uri.vsock.trailing", error: `trailing characters in address '${str}'` };
    }
    return { type: "vsock", cid, port };
  }
  const inet = inetParse(uri.slice(4), false); // "tcp:"
  return "rule" in inet ? inet : { type: "inet", ...inet };
}

/** `file_parse_offset`: the first `,offset=` splits the path from a `qemu_strtosz` size. */
export function parseFileSpec(spec: string): { filename: string; offset: bigint } | UriError {
  const at = spec.indexOf(OFFSET_OPTION);
  if (at < 0) return { filename: spec, offset: 0n };
  const text = spec.slice(at + OFFSET_OPTION.length);
  const size = qemuStrtosz(text);
  if (!size.ok) {
    return { rule: "uri.file.badOffset", error: `file URI has bad offset ${text}: ${STRERROR[size.errno]}` };
  }
  return { filename: spec.slice(0, at), offset: size.value };
}

/** `migrate_uri_parse`. Throws `UnsupportedInputError` only for syntax the model does not cover. */
export function parseMigrationUri(uri: string): MigrationAddress | UriError {
  if (uri.startsWith("exec:")) return { transport: "exec", command: uri.slice(5) };
  if (uri.startsWith("rdma:")) {
    const inet = inetParse(uri.slice(5), true);
    return "rule" in inet ? inet : { transport: "rdma", host: inet.host, port: inet.port };
  }
  if (["tcp:", "unix:", "vsock:", "fd:"].some((p) => uri.startsWith(p))) {
    const socket = socketParse(uri);
    return "rule" in socket ? socket : { transport: "socket", socket };
  }
  if (uri.startsWith("file:")) {
    const spec = parseFileSpec(uri.slice(5));
    return "rule" in spec ? spec : { transport: "file", ...spec };
  }
  return { rule: "uri.unknownProtocol", error: `unknown migration protocol: ${uri}` };
}

/** Seekable transports (`transport_supports_seeking`): only `file:`. */
export function isSeekable(addr: MigrationAddress): boolean {
  return addr.transport === "file";
}

/** `transport_supports_multi_channels`: inet, unix and vsock sockets; `file:` only with mapped-ram. */
export function isMultiChannel(addr: MigrationAddress, mappedRam: boolean): boolean {
  if (addr.transport === "socket") return addr.socket.type !== "fd";
  return addr.transport === "file" && mappedRam;
}

/** `transport_supports_extra_fds`: only `file:` can be reopened for the O_DIRECT channels. */
export function allowsExtraFds(addr: MigrationAddress): boolean {
  return addr.transport === "file";
}
