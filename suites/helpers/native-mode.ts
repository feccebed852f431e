// Running code that has a native path (dist/native/mrc-io.node) both ways: with the helper, and without
// it (MRC_NATIVE=0, which nativeIo() reads on every call, and worker threads copy when they start).
// Without the helper built, only the fallback runs, unless CI requires the helper
// (MRC_REQUIRE_NATIVE=1): then the native cases run and fail.
import { afterEach, beforeEach } from "vitest";
import { nativeIo } from "../../src/impl/native-io.js";

/** The modes to run: "native" when the helper is built (or required), and `fallback`, named by the caller. */
export function nativeModes<F extends string>(fallback: F): Array<"native" | F> {
  return nativeIo() !== undefined || process.env.MRC_REQUIRE_NATIVE === "1"
    ? ["native", fallback]
    : [fallback];
}

/** Sets MRC_NATIVE for `mode` ("native": the helper on; any other: off); returns what puts it back. */
function setNativeMode(mode: string): () => void {
  const before = process.env.MRC_NATIVE;
  if (mode === "native") delete process.env.MRC_NATIVE;
  else process.env.MRC_NATIVE = "0";
  return () => {
    if (before === undefined) delete process.env.MRC_NATIVE;
    else process.env.MRC_NATIVE = before;
  };
}

/** Every test of the enclosing describe runs with the helper on ("native") or off (any other mode). */
export function useNativeMode(mode: string): void {
  let restore: (() => void) | undefined;
  beforeEach(() => {
    restore = setNativeMode(mode);
  });
  afterEach(() => restore?.());
}

/** Runs `fn` with the helper on ("native") or off (any other mode), then puts MRC_NATIVE back. */
export async function withNativeMode<T>(mode: string, fn: () => Promise<T>): Promise<T> {
  const restore = setNativeMode(mode);
  try {
    return await fn();
  } finally {
    restore();
  }
}
