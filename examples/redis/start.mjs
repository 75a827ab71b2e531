// `pnpm --filter @switchyard/example-redis start`: the board on two nodes behind a round-robin balancer.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { importBundled } from "./bundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const { main } = await importBundled(join(root, "src/main.ts"))
await main(root)
