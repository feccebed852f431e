// Conformance cases for capability/parameter/transport rules, as data: a stable id, a description, the
// QMP calls in order. `{dir}` in a URI is the running QEMU's private temp dir.
import { CAPABILITIES } from "../../impl/caps/index.js";

export type Step =
  | { call: "migrate-set-capabilities"; capabilities: unknown }
  | { call: "migrate-set-parameters"; params: Record<string, unknown> }
  | { call: "migrate"; uri: string }
  | { call: "migrate-incoming"; uri: string };

export interface CapsCase {
  /** stable dotted id, e.g. `caps.matrix.mapped-ram+multifd.file.none` */
  id: string;
  description: string;
  /** `source`: QEMU started with -S; `destination`: with `-incoming defer` */
  role: "source" | "destination";
  steps: Step[];
  /** stop after the first refused call (like `mrc caps`); otherwise every call runs */
  stopAtFirstError: boolean;
}

/** The 8 capabilities whose 256 subsets make the matrix. */
export const MATRIX_CAPS = [
  "mapped-ram",
  "multifd",
  "xbzrle",
  "postcopy-ram",
  "x-ignore-shared",
  "zero-copy-send",
  "background-snapshot",
  "return-path",
] as const;

/** The capabilities the issue asks for; sequences draw from these. */
export const SEQUENCE_CAPS = [
  ...MATRIX_CAPS,
  "postcopy-preempt",
  "switchover-ack",
  "validate-uuid",
  "auto-converge",
  "release-ram",
  "dirty-bitmaps",
  "pause-before-switchover",
  "late-block-activate",
] as const;

export const OUTGOING_TRANSPORTS: Readonly<Record<string, string>> = {
  file: "file:{dir}/out.img",
  "file-offset": "file:{dir}/out.img,offset=0x1000",
  tcp: "tcp:127.0.0.1:1",
  unix: "unix:{dir}/nobody.sock",
  exec: "exec:cat>/dev/null",
};

/** Incoming URIs; the runner creates `{dir}/in.img` (empty) before each destination case. */
export const INCOMING_TRANSPORTS: Readonly<Record<string, string>> = {
  file: "file:{dir}/in.img",
  "file-offset": "file:{dir}/in.img,offset=0x1000",
  tcp: "tcp:127.0.0.1:0",
  unix: "unix:{dir}/in.sock",
  exec: "exec:true",
};

export const COMPRESSIONS = ["none", "zlib"] as const;

export function capsOn(names: readonly string[]): Step {
  return {
    call: "migrate-set-capabilities",
    capabilities: names.map((capability) => ({ capability, state: true })),
  };
}

export function capsOff(names: readonly string[]): Step {
  return {
    call: "migrate-set-capabilities",
    capabilities: names.map((capability) => ({ capability, state: false })),
  };
}

export function params(p: Record<string, unknown>): Step {
  return { call: "migrate-set-parameters", params: p };
}

/** Every subset of MATRIX_CAPS, as lists in MATRIX_CAPS order. */
export function capSubsets(): string[][] {
  const out: string[][] = [];
  for (let mask = 0; mask < 1 << MATRIX_CAPS.length; mask++) {
    out.push(MATRIX_CAPS.filter((_, bit) => (mask & (1 << bit)) !== 0));
  }
  return out;
}

const subsetKey = (caps: readonly string[]) => (caps.length === 0 ? "none" : caps.join("+"));

/** 256 capability sets × 5 transports × 2 compressions: capabilities, parameters, then migrate. */
export function outgoingMatrix(): CapsCase[] {
  const out: CapsCase[] = [];
  for (const caps of capSubsets()) {
    for (const [transport, uri] of Object.entries(OUTGOING_TRANSPORTS)) {
      for (const compression of COMPRESSIONS) {
        const steps: Step[] = [capsOn(caps)];
        if (compression !== "none") steps.push(params({ "multifd-compression": compression }));
        steps.push({ call: "migrate", uri });
        out.push({
          id: `caps.matrix.${subsetKey(caps)}.${transport}.${compression}`,
          description: `migrate over ${transport} with {${caps.join(", ")}} and multifd-compression=${compression}`,
          role: "source",
          steps,
          stopAtFirstError: true,
        });
      }
    }
  }
  return out;
}

/**
 * The same sets on a destination: capabilities, parameters, migrate-incoming, then turning multifd on
 * (the "set before incoming starts" rule).
 */
export function incomingMatrix(): CapsCase[] {
  const out: CapsCase[] = [];
  for (const caps of capSubsets()) {
    for (const [transport, uri] of Object.entries(INCOMING_TRANSPORTS)) {
      for (const compression of COMPRESSIONS) {
        const steps: Step[] = [capsOn(caps)];
        if (compression !== "none") steps.push(params({ "multifd-compression": compression }));
        steps.push({ call: "migrate-incoming", uri }, capsOn(["multifd"]));
        out.push({
          id: `caps.incoming.${subsetKey(caps)}.${transport}.${compression}`,
          description: `migrate-incoming over ${transport} with {${caps.join(", ")}}, then multifd on`,
          role: "destination",
          steps,
          stopAtFirstError: true,
        });
      }
    }
  }
  return out;
}

/** Default seed of the generated sequences (ids embed it, so expectation entries stay valid). */
export const DEFAULT_SEED = 20250710;

/** The id of generated sequence `i` of `seed` (./sequences.ts): `caps.seq.s<seed>.<i>`. */
export function sequenceId(seed: number, i: number): string {
  return `caps.seq.s${seed}.${i}`;
}

/** Every capability QEMU 10.0 has, off: the first half of a reset between cases. */
export const ALL_CAPS_OFF = CAPABILITIES.map((capability) => ({ capability, state: false }));
