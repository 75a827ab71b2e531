// `pnpm --filter @switchyard/example-trpc start`: the tRPC app on Switchyard, page included.
//
// Node 20 cannot run TypeScript: src/server.ts is bundled first (scripts/lib/nodeBundle.mjs says how).
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { build } from "esbuild"
import { bundleForNode } from "../../scripts/lib/nodeBundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const dir = await mkdtemp(join(tmpdir(), "switchyard-trpc-"))
let startTodoServer
try {
  const file = await bundleForNode(build, { entryPoints: [join(root, "src/server.ts")] }, join(dir, "server.mjs"))
  ;({ startTodoServer } = await import(pathToFileURL(file).href))
} finally {
  await rm(dir, { recursive: true, force: true })
}

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
const app = await startTodoServer({ root, port, host: process.env.HOST || "localhost" }).catch((error) => {
  if (error?.code !== "EADDRINUSE") throw error
  console.error(
    `Port ${port} is in use; start with another one, e.g. PORT=3001 pnpm --filter @switchyard/example-trpc start`,
  )
  process.exit(1)
})
console.log(`tRPC on Switchyard: open ${app.url}`)

for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => void app.close().then(() => process.exit(0)))
