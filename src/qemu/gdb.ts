// QEMU's gdbstub (gdbstub/gdbstub.c), used to write guest memory while the VM is stopped — e.g. while a
// migration waits in `pre-switchover`. Writes go through the debug path, which marks the pages dirty for
// migration, so QEMU re-sends them in ram_save_complete. Remote Serial Protocol over a unix socket.
import { connect, type Socket } from "node:net";
import { QemuError } from "./errors.js";

/** Bytes per `M` packet: 2 hex digits a byte must fit QEMU's PacketSize (0x1000). */
const WRITE_CHUNK = 1024;

function checksum(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, "0");
}

export class GdbClient {
  private buffer = "";
  private waiter: (() => void) | undefined;
  private closed: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      this.buffer += d;
      this.waiter?.();
    });
    const end = (e?: Error) => {
      this.closed ??= e ?? new Error("gdbstub connection closed");
      this.waiter?.();
    };
    socket.on("error", end);
    socket.on("close", () => end());
  }

  /** Connects to `-gdb unix:PATH,server=on,wait=off` and switches to physical addresses. */
  static async connect(path: string, timeoutMs = 10_000): Promise<GdbClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      const timer = setTimeout(() => {
        s.destroy();
        reject(
          new QemuError("ERR_QMP_TIMEOUT", {
            subject: `gdbstub ${path}`,
            rule: `no connection after ${timeoutMs} ms`,
            timeoutMs,
          }),
        );
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const g = new GdbClient(socket, timeoutMs);
    const mode = await g.command("Qqemu.PhyMemMode:1");
    if (mode !== "OK") {
      g.close();
      throw new QemuError("ERR_QMP_PROTOCOL", {
        subject: "gdbstub",
        rule: `Qqemu.PhyMemMode:1 answered ${JSON.stringify(mode)}`,
      });
    }
    return g;
  }

  /** Sends one packet, returns the reply payload (acks handled). */
  async command(payload: string): Promise<string> {
    if (this.closed) throw this.closed;
    this.socket.write(`$${payload}#${checksum(payload)}`);
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      // skip acks, take one whole $...#xx packet
      this.buffer = this.buffer.replace(/^\++/, "");
      const m = /^\$([^#]*)#([0-9a-fA-F]{2})/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        this.socket.write("+");
        return m[1] as string;
      }
      if (this.closed) throw this.closed;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new QemuError("ERR_QMP_TIMEOUT", {
          subject: "gdbstub",
          rule: `no reply to ${payload.slice(0, 20)}`,
          timeoutMs: this.timeoutMs,
        });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** Writes guest-physical memory. */
  async writePhysical(address: bigint, data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; at += WRITE_CHUNK) {
      const chunk = data.subarray(at, Math.min(data.length, at + WRITE_CHUNK));
      const reply = await this.command(
        `M${(address + BigInt(at)).toString(16)},${chunk.length.toString(16)}:${Buffer.from(chunk).toString("hex")}`,
      );
      if (reply !== "OK") {
        throw new QemuError("ERR_QMP_PROTOCOL", {
          subject: "gdbstub",
          rule: `memory write at 0x${(address + BigInt(at)).toString(16)} answered ${JSON.stringify(reply)}`,
        });
      }
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
