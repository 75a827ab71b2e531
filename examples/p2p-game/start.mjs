// Starts the game: `pnpm --filter @switchyard/example-p2p-game start`, then open the printed URL in two tabs.
//
// Node 20 cannot run TypeScript, so src/server.ts is bundled first (scripts/lib/nodeBundle.mjs says how).
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { build } from "esbuild"
import { bundleForNode } from "../../scripts/lib/nodeBundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const dir = await mkdtemp(join(tmpdir(), "switchyard-p2p-game-"))
let startGameServer
try {
  const file = await bundleForNode(build, { entryPoints: [join(root, "src/server.ts")] }, join(dir, "server.mjs"))
  ;({ startGameServer } = await import(pathToFileURL(file).href))
} finally {
  await rm(dir, { recursive: true, force: true })
}

const port = process.env.PORT === undefined ? 3002 : Number(process.env.PORT)
const game = await startGameServer({ root, port, host: process.env.HOST || "localhost" }).catch((error) => {
  if (error?.code !== "EADDRINUSE") throw error
  console.error(
    `Port ${port} is in use; start with another one, e.g. PORT=3003 pnpm --filter @switchyard/example-p2p-game start`,
  )
  process.exit(1)
})
console.log(`Switchyard p2p game: open ${game.url} in two tabs (or two machines on one LAN)`)

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    void game.close().then(() => process.exit(0))
  })
}
