import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: { conditions: ["@switchyard/source"] },
  ssr: { resolve: { conditions: ["@switchyard/source"] } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "examples/*/src/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/*.browser.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    typecheck: { enabled: true, include: ["packages/*/src/**/*.test-d.ts"], tsconfig: "tsconfig.typetests.json" },
  },
})
