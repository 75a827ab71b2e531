// Starts the example: `pnpm --filter @switchyard/example-nginx start`. Node 20 cannot run TypeScript, so
// src/start.ts is bundled first (scripts/lib/nodeBundle.mjs says how), then run with this folder as root.
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { build } from "esbuild"
import { bundleForNode } from "../../scripts/lib/nodeBundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const dir = await mkdtemp(join(tmpdir(), "switchyard-example-nginx-"))
let main
try {
  const file = await bundleForNode(build, { entryPoints: [join(root, "src/start.ts")] }, join(dir, "start.mjs"))
  ;({ main } = await import(pathToFileURL(file).href))
} finally {
  await rm(dir, { recursive: true, force: true })
}
await main(root)
