// migration/socket.c + migration.c: migrate_uri_parse for `tcp:HOST:PORT` and `unix:PATH` — the two socket
// transports packets mode runs on. Node's net module lives here, at the I/O edge.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { MappedRamError } from "../errors.js";

export type SocketAddress = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

function badAddress(text: string, rule: string): MappedRamError {
  return new MappedRamError("ERR_BAD_ARGUMENT", { subject: "migration address", rule, actual: text });
}

/** `tcp:HOST:PORT` (HOST may be `[v6]`) or `unix:PATH`. */
export function parseSocketAddress(text: string): SocketAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice(5);
    if (path.length === 0) throw badAddress(text, "unix: needs a path");
    return { kind: "unix", path };
  }
  if (text.startsWith("tcp:")) {
    const rest = text.slice(4);
    const m = /^(\[[^\]]+\]|[^:[\]]+):([0-9]{1,5})$/.exec(rest);
    if (!m) throw badAddress(text, "must be tcp:HOST:PORT");
    const port = Number(m[2]);
    if (port > 65535) throw badAddress(text, "port must be at most 65535");
    const host = (m[1] as string).replace(/^\[(.*)\]$/, "$1");
    return { kind: "tcp", host, port };
  }
  throw badAddress(text, "must start with tcp: or unix:");
}

export function formatSocketAddress(a: SocketAddress): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return a.host.includes(":") ? `tcp:[${a.host}]:${a.port}` : `tcp:${a.host}:${a.port}`;
}

function ioFailure(subject: string, e: unknown): MappedRamError {
  const err = e as NodeJS.ErrnoException;
  return new MappedRamError("ERR_IO", {
    subject,
    rule: `${err?.code ?? "I/O error"}: ${err?.message ?? String(e)}`,
    cause: e,
  });
}

/** Opens one connection (socket_send_channel_create); rejects with ERR_IO, or with the abort reason. */
export function connectSocket(a: SocketAddress, subject: string, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const s =
      a.kind === "unix"
        ? createConnection({ path: a.path })
        : createConnection({ host: a.host, port: a.port });
    const onAbort = () => {
      s.destroy();
      reject(signal?.reason);
    };
    const onError = (e: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      s.destroy();
      reject(ioFailure(subject, e));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    s.once("error", onError);
    s.once("connect", () => {
      signal?.removeEventListener("abort", onAbort);
      s.off("error", onError);
      s.setNoDelay(true);
      resolve(s);
    });
  });
}

/** Listens (port 0: any free port) and returns the server and the address it really has. */
export function listenSocket(
  a: SocketAddress,
  onConnection: (s: Socket) => void,
): Promise<{ server: Server; address: SocketAddress }> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true }, onConnection);
    server.once("error", (e) => reject(ioFailure(`listener ${formatSocketAddress(a)}`, e)));
    const ready = () => {
      const got = server.address();
      const address: SocketAddress =
        a.kind === "tcp" && got !== null && typeof got === "object" ? { ...a, port: got.port } : a;
      resolve({ server, address });
    };
    if (a.kind === "unix") server.listen(a.path, ready);
    else server.listen(a.port, a.host, ready);
  });
}
