// Starts the getting-started app: `pnpm --filter @switchyard/example-getting-started start`.
//
// Node 20 cannot run TypeScript, so src/app.ts is bundled first (bundle.mjs says how).
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { importBundled } from "./bundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const { startApp } = await importBundled(join(root, "src/app.ts"))

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
const app = await startApp({ root, port, host: process.env.HOST || "localhost" }).catch((error) => {
  if (error?.code !== "EADDRINUSE") throw error
  console.error(
    `Port ${port} is in use; start with another one, e.g. PORT=3001 pnpm --filter @switchyard/example-getting-started start`,
  )
  process.exit(1)
})
console.log(`Switchyard getting started: open ${app.url} (clients connect to ${app.switchyardUrl})`)

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0))
  })
}
