// QMP client over a unix socket: docs/interop/qmp-spec.rst (greeting, capabilities negotiation,
// line-delimited JSON commands/replies with `id`, asynchronous events).
import { createConnection, type Socket } from "node:net";
import { QemuError, QmpError } from "./errors.js";
import type {
  ExecuteOptions,
  QmpArgsOf,
  QmpEvent,
  QmpExecutor,
  QmpGreeting,
  QmpReturnOf,
  VersionInfo,
} from "./qapi.js";

export interface QmpConnectOptions {
  /** time allowed for connect + greeting + `qmp_capabilities`, in ms (default 10 000) */
  timeoutMs?: number;
  /** default reply timeout for `execute`, in ms (default 30 000) */
  commandTimeoutMs?: number;
  /** label used in error messages, e.g. `qemu-system-x86_64 (pid 42)` */
  label?: string;
}

/** Filter for `waitForEvent`. */
export type QmpEventPredicate = (event: QmpEvent) => boolean;

export interface WaitForEventOptions {
  /**
   * Index into `events` from which to look: events already collected at or after it count. Default 0 (any
   * event ever received); pass `client.events.length` to wait only for a new one.
   */
  since?: number;
}

interface Pending {
  command: string;
  args: Readonly<Record<string, unknown>> | undefined;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface EventWaiter {
  match: (event: QmpEvent) => boolean;
  resolve: (event: QmpEvent) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * One QMP connection. `QmpClient.connect(path)` reads the greeting and negotiates capabilities; after that
 * `execute` sends commands and `events` fills with every asynchronous event. When the socket closes (QEMU
 * quit or crashed) every pending reply and event wait is rejected with `ERR_QMP_CLOSED`.
 */
export class QmpClient implements QmpExecutor {
  /** the greeting QEMU sent; its `version` is the running QEMU's */
  readonly greeting: QmpGreeting;
  /** every event received so far, in order */
  readonly events: QmpEvent[] = [];
  /** default reply timeout in ms */
  readonly commandTimeoutMs: number;
  readonly label: string;

  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters = new Set<EventWaiter>();
  readonly #listeners = new Set<(event: QmpEvent) => void>();
  #nextId = 1;
  #buffer = "";
  #closedError: QemuError | undefined;
  readonly #closed: Promise<void>;

  private constructor(socket: Socket, greeting: QmpGreeting, buffer: string, options: QmpConnectOptions) {
    this.#socket = socket;
    this.greeting = greeting;
    this.#buffer = buffer;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 30_000;
    this.label = options.label ?? "qmp";
    this.#closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: string) => this.#onData(chunk));
    socket.on("error", () => {
      // 'close' follows and does the cleanup; the error itself (ECONNRESET, EPIPE) carries no extra meaning.
    });
    socket.once("close", () => this.#onClose());
    socket.resume();
  }

  /** Connects to a QMP unix socket, reads the greeting and runs `qmp_capabilities`. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const label = options.label ?? `qmp ${path}`;
    const socket = createConnection({ path });
    socket.setEncoding("utf8");
    const { greeting, rest } = await new Promise<{ greeting: QmpGreeting; rest: string }>(
      (resolve, reject) => {
        let buffer = "";
        const fail = (
          rule: string,
          code: "ERR_QMP_CLOSED" | "ERR_QMP_TIMEOUT" | "ERR_QMP_PROTOCOL",
          cause?: unknown,
        ) => {
          cleanup();
          socket.destroy();
          reject(new QemuError(code, { subject: label, rule, timeoutMs, cause }));
        };
        const onData = (chunk: string) => {
          buffer += chunk;
          const nl = buffer.indexOf("\n");
          if (nl < 0) return;
          const line = buffer.slice(0, nl).trim();
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch (error) {
            fail(
              `greeting is not JSON. Received ${JSON.stringify(line.slice(0, 80))}`,
              "ERR_QMP_PROTOCOL",
              error,
            );
            return;
          }
          if (!isObject(parsed) || !isObject(parsed.QMP)) {
            fail(
              `first line is not a QMP greeting. Received ${JSON.stringify(line.slice(0, 80))}`,
              "ERR_QMP_PROTOCOL",
            );
            return;
          }
          cleanup();
          // Paused, so nothing that follows is emitted while no 'data' listener is attached.
          socket.pause();
          resolve({ greeting: parsed as unknown as QmpGreeting, rest: buffer.slice(nl + 1) });
        };
        const onError = (error: Error) => fail(`connect failed: ${error.message}`, "ERR_QMP_CLOSED", error);
        const onClose = () => fail("socket closed before the greeting", "ERR_QMP_CLOSED");
        const timer = setTimeout(
          () => fail(`no greeting within ${timeoutMs} ms`, "ERR_QMP_TIMEOUT"),
          timeoutMs,
        );
        const cleanup = () => {
          clearTimeout(timer);
          socket.off("data", onData);
          socket.off("error", onError);
          socket.off("close", onClose);
        };
        socket.on("data", onData);
        socket.on("error", onError);
        socket.on("close", onClose);
      },
    );
    const client = new QmpClient(socket, greeting, "", { ...options, label });
    // Lines that arrived together with the greeting are processed now that the handlers exist.
    if (rest !== "") client.#onData(rest);
    try {
      await client.execute("qmp_capabilities", undefined, { timeoutMs });
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** The QEMU version from the greeting. */
  get version(): VersionInfo["qemu"] {
    return this.greeting.QMP.version.qemu;
  }

  /** True once the socket has closed. */
  get isClosed(): boolean {
    return this.#closedError !== undefined;
  }

  /** Resolves when the socket has closed (never rejects). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Runs a QMP command and returns its `return` value (typed for commands listed in `QmpCommands`). An
   * `{"error": ...}` reply throws `QmpError` with QEMU's exact `class` and `desc`; a timeout throws
   * `ERR_QMP_TIMEOUT`; a closed socket `ERR_QMP_CLOSED`.
   */
  execute<C extends string>(
    command: C,
    args?: QmpArgsOf<C>,
    options: ExecuteOptions = {},
  ): Promise<QmpReturnOf<C>> {
    const plainArgs = args as Readonly<Record<string, unknown>> | undefined;
    if (this.#closedError !== undefined) {
      return Promise.reject(this.#closedFor(`qmp command "${command}"`));
    }
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
    const message: Json = { execute: command, id };
    if (plainArgs !== undefined) message.arguments = plainArgs;
    return new Promise<QmpReturnOf<C>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new QemuError("ERR_QMP_TIMEOUT", {
            subject: `${this.label}: qmp command "${command}"`,
            rule: `no reply within ${timeoutMs} ms`,
            timeoutMs,
          }),
        );
      }, timeoutMs);
      this.#pending.set(id, {
        command,
        args: plainArgs,
        resolve: (value) => resolve(value as QmpReturnOf<C>),
        reject,
        timer,
      });
      this.#socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /**
   * Resolves with the first event named `name` (and accepted by `predicate`) among the events collected
   * from `options.since` (default 0) on, or arriving later. Rejects with `ERR_QMP_TIMEOUT` after
   * `timeoutMs`, or `ERR_QMP_CLOSED` when the socket closes first.
   */
  waitForEvent(
    name: string,
    predicate?: QmpEventPredicate,
    timeoutMs = this.commandTimeoutMs,
    options: WaitForEventOptions = {},
  ): Promise<QmpEvent> {
    const match = (event: QmpEvent) => event.event === name && (predicate === undefined || predicate(event));
    const found = this.events.slice(options.since ?? 0).find(match);
    if (found !== undefined) return Promise.resolve(found);
    if (this.#closedError !== undefined) return Promise.reject(this.#closedFor(`event ${name}`));
    return new Promise<QmpEvent>((resolve, reject) => {
      const waiter: EventWaiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new QemuError("ERR_QMP_TIMEOUT", {
              subject: `${this.label}: event ${name}`,
              rule: `not received within ${timeoutMs} ms`,
              timeoutMs,
            }),
          );
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Calls `listener` for every event from now on; returns a function that unsubscribes it. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the socket; pending calls are rejected with `ERR_QMP_CLOSED`. */
  close(): void {
    this.#socket.destroy();
  }

  #closedFor(what: string): QemuError {
    const base = this.#closedError;
    return new QemuError("ERR_QMP_CLOSED", {
      subject: `${this.label}: ${what}`,
      rule: "the qmp connection closed (qemu quit, crashed or was killed)",
      cause: base,
    });
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl = this.#buffer.indexOf("\n");
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl).trim();
      this.#buffer = this.#buffer.slice(nl + 1);
      if (line !== "") this.#onLine(line);
      nl = this.#buffer.indexOf("\n");
    }
  }

  #onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.#protocolError(`received a line that is not JSON: ${JSON.stringify(line.slice(0, 80))}`, error);
      return;
    }
    if (!isObject(message)) {
      this.#protocolError(
        `received a JSON value that is not an object: ${JSON.stringify(line.slice(0, 80))}`,
      );
      return;
    }
    if (typeof message.event === "string") {
      this.#onEvent(message);
      return;
    }
    const id = message.id;
    const pending = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (pending === undefined) {
      // A reply to a command that already timed out is dropped; anything else is a protocol violation.
      if (typeof id === "number" && id < this.#nextId) return;
      this.#protocolError(`received a reply with unknown id: ${JSON.stringify(line.slice(0, 120))}`);
      return;
    }
    this.#pending.delete(id as number);
    clearTimeout(pending.timer);
    if ("return" in message) {
      pending.resolve(message.return);
    } else if (isObject(message.error)) {
      const cls = typeof message.error.class === "string" ? message.error.class : "";
      const desc = typeof message.error.desc === "string" ? message.error.desc : "";
      pending.reject(new QmpError(pending.command, cls, desc, pending.args));
    } else {
      pending.reject(
        new QemuError("ERR_QMP_PROTOCOL", {
          subject: `${this.label}: qmp command "${pending.command}"`,
          rule: `reply has neither "return" nor "error": ${JSON.stringify(line.slice(0, 120))}`,
        }),
      );
    }
  }

  #onEvent(message: Json): void {
    const ts = isObject(message.timestamp) ? message.timestamp : {};
    const event: QmpEvent = {
      event: message.event as string,
      data: isObject(message.data) ? message.data : {},
      timestamp: {
        seconds: typeof ts.seconds === "number" ? ts.seconds : 0,
        microseconds: typeof ts.microseconds === "number" ? ts.microseconds : 0,
      },
    };
    this.events.push(event);
    for (const waiter of [...this.#waiters]) {
      if (!waiter.match(event)) continue;
      this.#waiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve(event);
    }
    for (const listener of this.#listeners) listener(event);
  }

  #protocolError(rule: string, cause?: unknown): void {
    const error = new QemuError("ERR_QMP_PROTOCOL", { subject: this.label, rule, cause });
    this.#rejectAll(() => error);
    this.#socket.destroy();
  }

  #onClose(): void {
    this.#closedError ??= new QemuError("ERR_QMP_CLOSED", {
      subject: this.label,
      rule: "the qmp connection closed (qemu quit, crashed or was killed)",
    });
    this.#rejectAll(() => undefined);
  }

  #rejectAll(errorFor: () => QemuError | undefined): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(errorFor() ?? this.#closedFor(`qmp command "${pending.command}"`));
    }
    this.#pending.clear();
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(errorFor() ?? this.#closedFor("event wait"));
    }
    this.#waiters.clear();
  }
}
