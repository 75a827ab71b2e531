// Starts the dashboard demo: `pnpm --filter @switchyard/example-dashboard start` from the repository root, or `pnpm start` here.
//
// Why this file: it must work on a fresh clone after `pnpm install`, with no package built. Node 20
// cannot run TypeScript, so src/server.ts is bundled first (bundle.mjs says how).
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { importBundled } from "./bundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const { startDashboardServer } = await importBundled({ entryPoints: [join(root, "src/server.ts")] })

const port = process.env.PORT === undefined ? 3001 : Number(process.env.PORT)
const dashboard = await startDashboardServer({ root, port, host: process.env.HOST || "localhost" }).catch((error) => {
  if (error?.code !== "EADDRINUSE") throw error
  console.error(
    `Port ${port} is in use; start with another one, e.g. PORT=3002 pnpm --filter @switchyard/example-dashboard start`,
  )
  process.exit(1)
})
console.log(`Switchyard dashboard: open ${dashboard.url}`)

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    void dashboard.close().then(() => process.exit(0))
  })
}
