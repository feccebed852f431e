// Vitest glue for the libvirt suite: libvirtd and virtlogd started by hand (no systemd here), their PIDs
// kept, and both stopped (with every domain we defined) at the end even when a test fails. Skips with one
// line when libvirt is not installed; fails instead under MRC_REQUIRE_LIBVIRT=1.
import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { afterAll, beforeAll, describe, it } from "vitest";

export const LIBVIRT_MISSING_MESSAGE =
  "libvirt suites skipped: no virsh/libvirtd/virtlogd, or not root (run scripts/install-libvirt.sh)";
const SOCKET = "/run/libvirt/libvirt-sock";
export const VIRSH_URI = "qemu:///system";

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

async function haveLibvirt(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  return (
    (await exists("/usr/sbin/libvirtd", constants.X_OK)) &&
    (await exists("/usr/sbin/virtlogd", constants.X_OK)) &&
    (await execa("virsh", ["--version"], { reject: false })).exitCode === 0
  );
}

const available = await haveLibvirt();

export interface VirshResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs virsh against qemu:///system with a hard timeout. */
export async function virsh(args: readonly string[], timeoutMs = 120_000): Promise<VirshResult> {
  const r = await execa("virsh", ["-c", VIRSH_URI, ...args], {
    reject: false,
    timeout: timeoutMs,
    stdin: "ignore",
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** virsh, failing with its stderr when it fails. */
export async function virshOk(args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await virsh(args, timeoutMs);
  if (r.exitCode !== 0) throw new Error(`virsh ${args.join(" ")}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

class Daemons {
  private readonly pids: number[] = [];
  private readonly domains = new Set<string>();

  async start(): Promise<void> {
    if (await exists(SOCKET)) {
      // Someone else's libvirtd answers on the socket: use it, and leave it running.
      if ((await virsh(["version"], 60_000)).exitCode === 0) return;
    }
    for (const daemon of ["/usr/sbin/virtlogd", "/usr/sbin/libvirtd"]) {
      const child = spawn(daemon, [], { detached: true, stdio: "ignore" });
      if (child.pid === undefined) throw new Error(`could not start ${daemon}`);
      child.unref();
      this.pids.push(child.pid);
    }
    for (let i = 0; i < 200 && !(await exists(SOCKET)); i++) await sleep(50);
    // The first connection makes libvirt probe QEMU (~10-15 s): pay it once here.
    await virshOk(["version"], 120_000);
  }

  track(domain: string): void {
    this.domains.add(domain);
  }

  async stop(): Promise<void> {
    for (const d of this.domains) {
      await virsh(["destroy", d], 30_000);
      await virsh(["undefine", d, "--managed-save"], 30_000);
    }
    for (const pid of this.pids.reverse()) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        continue;
      }
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await sleep(50);
      }
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
}

/** `describe` for libvirt suites: starts the daemons before, stops them (and our domains) after. */
export function describeLibvirt(name: string, fn: (daemons: { track(domain: string): void }) => void): void {
  if (!available && process.env.MRC_REQUIRE_LIBVIRT === "1") {
    describe(name, () => {
      it("has libvirt (MRC_REQUIRE_LIBVIRT=1)", () => {
        throw new Error(`MRC_REQUIRE_LIBVIRT=1 but ${LIBVIRT_MISSING_MESSAGE}`);
      });
    });
    return;
  }
  if (!available) console.warn(LIBVIRT_MISSING_MESSAGE);
  describe.skipIf(!available)(name, () => {
    const daemons = new Daemons();
    beforeAll(async () => {
      await daemons.start();
    }, 180_000);
    afterAll(async () => {
      await daemons.stop();
    }, 120_000);
    fn(daemons);
  });
}
