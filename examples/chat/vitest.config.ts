import { defineConfig } from "vitest/config"

// Lets `pnpm test` run here alone; the root config runs the same file once it includes `examples/*/src/**/*.test.ts`.
export default defineConfig({
  resolve: { conditions: ["@switchyard/source"] },
  ssr: { resolve: { conditions: ["@switchyard/source"] } },
  test: { include: ["src/**/*.test.ts"], testTimeout: 10_000 },
})
