// `pnpm --filter @switchyard/example-redis client <name> [url]`: a terminal member of the board.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { importBundled } from "./bundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const [name = "anonymous", url = "http://127.0.0.1:3000/switchyard"] = process.argv.slice(2)
const { runTerminal } = await importBundled(join(root, "src/terminal.ts"))
await runTerminal(url, name)
process.exit(0)
