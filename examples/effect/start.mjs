// Starts the Effect tutorial's shop: `pnpm --filter @switchyard/example-effect start`.
//
// Node 20 cannot run TypeScript, so src/server.ts is bundled first (bundle.mjs says how).
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { importBundled } from "./bundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const { startShop } = await importBundled(join(root, "src/server.ts"))

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
const shop = await startShop({ port, host: process.env.HOST || "localhost" }).catch((error) => {
  if (error?.code !== "EADDRINUSE") throw error
  console.error(
    `Port ${port} is in use; start with another one, e.g. PORT=3001 pnpm --filter @switchyard/example-effect start`,
  )
  process.exit(1)
})
console.log(`Switchyard Effect shop: clients connect to ${shop.url}`)
console.log("Run the client in another terminal: pnpm --filter @switchyard/example-effect client")

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    void shop.close().then(() => process.exit(0))
  })
}
