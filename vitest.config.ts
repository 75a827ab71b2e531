import { defineConfig } from "vitest/config"

// Two groups of test files. Most run two at a time (vitest's default on this 2-core machine would be one:
// cores - 1). The files below assert bounds in time under load (a flood, a storm, chaos, failure
// detection within seconds, a proxy that batches a stream) or load the machine themselves (fuzzers);
// they run after the others, one at a time, so that no other file's load decides whether they pass.
// docs-command runs `pnpm docs`, which writes docs/api/ unless it is current: after docs-site, which reads it.
const alone = [
  "packages/tests/src/docs-command.test.ts",
  "packages/tests/src/chaos.test.ts",
  "packages/tests/src/storm.test.ts",
  "packages/tests/src/nodes.test.ts",
  "packages/tests/src/presence-redis.test.ts",
  "packages/tests/src/restart.test.ts",
  "packages/tests/src/fuzz.*.test.ts",
  "packages/tests/src/doctor*.test.ts",
  "packages/tests/src/session-admission.test.ts",
  "packages/tests/src/issue-12-session-flood.test.ts",
  "packages/tests/src/issue-12-webrtc-failure.chromium.test.ts",
  "packages/tests/src/issue-12-read-bounds.*.test.ts",
  "packages/tests/src/issue-12-listen-timeouts.test.ts",
  "packages/tests/src/webrtc.turn.test.ts",
  "packages/tests/src/proxies.chromium.test.ts",
]

const include = ["packages/*/src/**/*.test.ts", "examples/*/src/**/*.test.ts"]
const exclude = ["**/node_modules/**", "**/*.browser.test.ts"]

export default defineConfig({
  resolve: { conditions: ["@switchyard/source"] },
  ssr: { resolve: { conditions: ["@switchyard/source"] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: "together",
          include,
          exclude: [...exclude, ...alone],
          maxWorkers: 2,
          typecheck: { enabled: true, include: ["packages/*/src/**/*.test-d.ts"], tsconfig: "tsconfig.typetests.json" },
        },
      },
      {
        extends: true,
        test: { name: "alone", include: alone, exclude, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
})
