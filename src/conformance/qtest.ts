// A minimal client of QEMU's qtest protocol (system/qtest.c): one text command per line, one reply
// line `OK ...` or `FAIL ...`. Used to change guest RAM during a live save: QEMU 10.0.2 builds without
// the qtest accelerator still serve `-qtest unix:PATH,server=on,wait=off` next to `-accel tcg`.
import { createConnection, type Socket } from "node:net";

export class QtestClient {
  readonly #socket: Socket;
  #buffer = "";
  readonly #waiters: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  #closed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      for (let nl = this.#buffer.indexOf("\n"); nl >= 0; nl = this.#buffer.indexOf("\n")) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        // Asynchronous `IRQ ...` lines are not replies.
        if (line.startsWith("IRQ ")) continue;
        this.#waiters.shift()?.resolve(line);
      }
    });
    const fail = (e: Error) => {
      this.#closed ??= e;
      for (const w of this.#waiters.splice(0)) w.reject(e);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("qtest socket closed")));
  }

  static connect(path: string, timeoutMs = 5_000): Promise<QtestClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`qtest socket ${path}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new QtestClient(socket));
      });
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Sends one command; resolves with the reply after `OK`, rejects on `FAIL` or a closed socket. */
  command(line: string): Promise<string> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      this.#waiters.push({
        resolve: (reply) => {
          if (reply === "OK" || reply.startsWith("OK ")) resolve(reply.slice(3));
          else reject(new Error(`qtest "${line}": ${reply}`));
        },
        reject,
      });
      this.#socket.write(`${line}\n`);
    });
  }

  /** `memset ADDR SIZE VALUE`: guest-physical bytes set to one value. */
  async memset(addr: bigint, size: number, value: number): Promise<void> {
    await this.command(`memset 0x${addr.toString(16)} 0x${size.toString(16)} 0x${value.toString(16)}`);
  }

  close(): void {
    this.#socket.destroy();
  }
}
