// Running code that has a native path (dist/native/mrc-io.node) both ways: with the helper, and without
// it (MRC_NATIVE=0, which nativeIo() reads on every call). Without the helper built, only the fallback
// runs, unless CI requires the helper (MRC_REQUIRE_NATIVE=1): then the native cases run and fail.
import { afterEach, beforeEach } from "vitest";
import { nativeIo } from "../../src/impl/native-io.js";

/** The modes to run: "native" when the helper is built (or required), and `fallback`, named by the caller. */
export function nativeModes<F extends string>(fallback: F): Array<"native" | F> {
  return nativeIo() !== undefined || process.env.MRC_REQUIRE_NATIVE === "1"
    ? ["native", fallback]
    : [fallback];
}

/** Every test of the enclosing describe runs with the helper on ("native") or off (any other mode). */
export function useNativeMode(mode: string): void {
  let before: string | undefined;
  beforeEach(() => {
    before = process.env.MRC_NATIVE;
    if (mode === "native") delete process.env.MRC_NATIVE;
    else process.env.MRC_NATIVE = "0";
  });
  afterEach(() => {
    if (before === undefined) delete process.env.MRC_NATIVE;
    else process.env.MRC_NATIVE = before;
  });
}
