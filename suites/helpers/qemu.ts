// Vitest glue for suites that need QEMU: find it once, skip (or fail under MRC_REQUIRE_QEMU=1) when it is
// missing, and make sure no suite leaves a qemu-system process behind.
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, describe, it } from "vitest";
import { findQemu, liveQemus, type QemuBinary } from "../../src/qemu/index.js";

/** Printed once per test file when QEMU suites are skipped. */
export const QEMU_MISSING_MESSAGE =
  "QEMU suites skipped: no qemu-system-x86_64 >= 9.0 (set MRC_QEMU or run scripts/install-qemu.sh)";

const found = await findQemu();

/** The QEMU the suites use (>= 9.0, i.e. with mapped-ram), or undefined when there is none. */
export const qemu: QemuBinary | undefined = found?.hasMappedRam === true ? found : undefined;

const required = process.env.MRC_REQUIRE_QEMU === "1";
let announced = false;

/** The suites' QEMU; throws when called without one (only call it inside a `describeQemu` test). */
export function suiteQemu(): QemuBinary {
  if (qemu === undefined) throw new Error(QEMU_MISSING_MESSAGE);
  return qemu;
}

/**
 * `describe` for suites that run QEMU. Without QEMU >= 9.0 the suite is skipped with one line of
 * explanation, or fails when `MRC_REQUIRE_QEMU=1`. After the suite, any QEMU still running is killed and
 * the suite fails.
 */
export function describeQemu(name: string, fn: () => void): void {
  if (qemu === undefined && required) {
    describe(name, () => {
      it("has QEMU (MRC_REQUIRE_QEMU=1)", () => {
        const why = found === undefined ? "not found" : `found ${found.path}, which is older than 9.0`;
        throw new Error(`MRC_REQUIRE_QEMU=1 but qemu-system-x86_64 >= 9.0 is ${why}`);
      });
    });
    return;
  }
  if (qemu === undefined && !announced) {
    announced = true;
    console.warn(QEMU_MISSING_MESSAGE);
  }
  describe.skipIf(qemu === undefined)(name, () => {
    afterAll(async () => {
      await expectNoQemuLeft();
    });
    fn();
  });
}

/** Pids of qemu-system processes whose parent is this process (from /proc; zombies included). */
export function ourQemuPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ..." — comm may contain spaces and parentheses, so split at the last ")".
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    if (comm.startsWith("qemu-system") && ppid === process.pid) pids.push(Number(entry));
  }
  return pids;
}

/** Fails (after stopping them) if QEMUs started by this process are still registered or running. */
export async function expectNoQemuLeft(): Promise<void> {
  const registered = liveQemus();
  await Promise.all(registered.map((leftover) => leftover.stop()));
  const running = ourQemuPids();
  if (registered.length > 0 || running.length > 0) {
    const pids = [...new Set([...registered.map((q) => q.pid), ...running])].join(", ");
    throw new Error(`qemu processes left behind (pid ${pids}); stop() every QemuProcess, e.g. with withQemu`);
  }
}
