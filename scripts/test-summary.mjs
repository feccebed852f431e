#!/usr/bin/env node
// Prints the plain closing line CI reads ("tests: N passed, N failed, N skipped") from vitest's JSON
// report, and exits non-zero when the report is missing, a test failed, or no test ran.
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? ".vitest-results.json";
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.log(`tests: no report at ${file} (${e.message})`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
const suitesFailed = report.numFailedTestSuites ?? 0;
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (suitesFailed > 0) console.log(`test files that failed to run or had failures: ${suitesFailed}`);
process.exit(failed > 0 || suitesFailed > 0 || passed === 0 ? 1 : 0);
