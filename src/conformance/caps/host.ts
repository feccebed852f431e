// What this host gives QEMU, as the model's Environment: userfaultfd (asked of QEMU itself) and O_DIRECT
// on the file system of QEMU's temp dirs (where the cases' file: targets live).
import { constants } from "node:fs";
import { open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Environment } from "../../impl/caps/index.js";
import { isQmpError, type QemuBinary, withQemu } from "../../qemu/index.js";

async function oDirectWorks(dir: string): Promise<boolean> {
  const path = join(dir, `mrc-caps-odirect-${process.pid}.probe`);
  try {
    const handle = await open(path, constants.O_CREAT | constants.O_WRONLY | constants.O_DIRECT, 0o600);
    await handle.close();
    return true;
  } catch {
    return false;
  } finally {
    await rm(path, { force: true });
  }
}

/**
 * Probes the host once; the answer is passed to every model session of a capability run. `extraArgs` are
 * appended to the probing QEMU's command line, as to every other one.
 */
export async function probeEnvironment(
  binary: QemuBinary,
  extraArgs: readonly string[] = [],
): Promise<Partial<Environment>> {
  const options = { binary, machine: "none", memory: "8M", extraArgs };
  const { value: userfaultfd } = await withQemu(options, async (qemu) => {
    try {
      await qemu.execute("migrate-set-capabilities", {
        capabilities: [{ capability: "background-snapshot", state: true }],
      });
      return true;
    } catch (error) {
      if (isQmpError(error) && error.desc === "Background-snapshot is not supported by host kernel")
        return false;
      throw error;
    }
  });
  return { userfaultfd, oDirect: await oDirectWorks(tmpdir()) };
}
