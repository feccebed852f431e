#!/usr/bin/env bash
# The README's test command (`npm test`): build, run every suite, print the closing line.
# QEMU suites skip with one line when no QEMU >= 9.0 is found, unless MRC_REQUIRE_QEMU=1.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run --silent build || exit 2
rm -f .vitest-results.json
npx vitest run --reporter=default --reporter=json --outputFile.json=.vitest-results.json "$@"
status=$?
node scripts/test-summary.mjs .vitest-results.json
summary=$?
[ "$status" -ne 0 ] && exit "$status"
exit "$summary"
