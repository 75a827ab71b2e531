// Starts the chat demo: `pnpm demo` from the repository root, or `pnpm start` here.
//
// Why this file: it must work on a fresh clone after `pnpm install`, with no package built. Node 20
// cannot run TypeScript (no --experimental-strip-types), and `--conditions=@switchyard/source` would
// only point it at .ts files it cannot load. So esbuild (already needed to bundle the page) bundles
// src/server.ts for Node, taking the workspace packages from their TypeScript sources. Every other
// package stays external, resolved to its absolute path here, so Node loads it from node_modules as
// usual (esbuild's native binary, `ws`, `effect` — one copy shared with the page build).
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { build } from "esbuild"

const root = dirname(fileURLToPath(import.meta.url))

/** Bundles `@switchyard/*` (and relative imports); leaves every other package external, by absolute path. */
const externalPackages = {
  name: "external-packages",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === "resolving" || args.path.startsWith("@switchyard/")) return undefined
      if (args.path.startsWith("node:")) return { path: args.path, external: true }
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: "resolving",
      })
      if (resolved.errors.length > 0) return { errors: resolved.errors }
      return { path: resolved.external ? resolved.path : pathToFileURL(resolved.path).href, external: true }
    })
  },
}

const bundle = await build({
  entryPoints: [join(root, "src/server.ts")],
  bundle: true,
  write: false,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["@switchyard/source"],
  plugins: [externalPackages],
  logLevel: "warning",
})
const dir = await mkdtemp(join(tmpdir(), "switchyard-chat-"))
const file = join(dir, "server.mjs")
await writeFile(file, bundle.outputFiles[0].contents)
const { startChatServer } = await import(pathToFileURL(file).href)
await rm(dir, { recursive: true, force: true })

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
const chat = await startChatServer({ root, port, host: process.env.HOST || "localhost" }).catch((error) => {
  if (error?.code !== "EADDRINUSE") throw error
  console.error(`Port ${port} is in use; start with another one, e.g. PORT=3001 pnpm demo`)
  process.exit(1)
})
console.log(`Switchyard chat: open ${chat.url}`)

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    void chat.close().then(() => process.exit(0))
  })
}
