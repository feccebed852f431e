import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["suites/**/*.test.ts"],
    // QEMU suites start real processes; each file bounds its own cases, this is the backstop.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // 2-core machines: two test files at a time.
    pool: "forks",
    maxWorkers: 2,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      reporter: ["text-summary", "json-summary"],
    },
  },
});
