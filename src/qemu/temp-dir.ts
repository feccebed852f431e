// Private temp dirs of QEMU runs and conformance work. Made synchronously: tmp registers a dir for
// removal at exit (graceful cleanup) as it makes it, so a SIGINT can never find one made but not yet
// registered, as it can while an asynchronous mkdir is still in flight.
import { dirSync, setGracefulCleanup } from "tmp-promise";

// every dir made here is removed at exit, also an exit from mrc's signal handlers (src/cli/cleanup.ts)
setGracefulCleanup();

export interface TempDir {
  path: string;
  /** removes the dir and everything in it */
  cleanup(): Promise<void>;
}

export function tempDirSync(prefix: string): TempDir {
  const d = dirSync({ prefix, unsafeCleanup: true });
  return {
    path: d.name,
    cleanup: async () => d.removeCallback(),
  };
}
