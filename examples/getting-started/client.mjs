// Runs the Node client against a running app: `pnpm --filter @switchyard/example-getting-started client [url]`.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { importBundled } from "./bundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const { runClient } = await importBundled(join(root, "src/client.ts"))
await runClient(process.argv[2] ?? "http://localhost:3000/switchyard")
