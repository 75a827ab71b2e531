// Node 20 cannot run TypeScript (no --experimental-strip-types), and `--conditions=@switchyard/source`
// would only point it at .ts files it cannot load. So esbuild (already needed to bundle the page) bundles
// a TypeScript entry for Node, taking the workspace packages from their TypeScript sources. Every other
// package stays external, resolved to its absolute path from the file that imports it, so Node loads it
// from node_modules as usual (esbuild's native binary, `ws`, `effect` — one copy shared with the page build).
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build } from "esbuild"

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

/** Bundles a TypeScript entry (esbuild's `entryPoints` or `stdin`) for Node and imports it. */
export async function importBundled(entry) {
  const bundle = await build({
    ...entry,
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
  try {
    return await import(pathToFileURL(file).href)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
