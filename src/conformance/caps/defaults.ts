/** Generated sequences in a conformance run unless told otherwise (the vitest suite runs 300). */
export const DEFAULT_CONFORMANCE_SEQUENCES = 100;
