// Node 20 cannot run TypeScript (no --experimental-strip-types), and `--conditions=@switchyard/source` would
// only point it at .ts files it cannot load. So esbuild bundles a TypeScript entry for Node, taking the
// workspace packages from their TypeScript sources. Every other package stays external, resolved to its
// absolute path from the file that imports it, so Node loads it from node_modules as usual (esbuild's native
// binary, `ws`, `effect`). Used by the chat example's launchers, the tests' node processes and the soak.
// The caller passes its own esbuild `build`: esbuild is a dependency of those packages, not of the root.
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { pathToFileURL } from "node:url"

/** Bundles `@switchyard/*` (and relative imports); leaves every other package external, by absolute path. */
export const externalPackages = {
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

/**
 * Bundles a TypeScript entry (esbuild's `entryPoints` or `stdin`) into the ES module `file` for Node 20 and
 * returns `file`. Rejects with esbuild's errors, e.g. an import that cannot be resolved.
 */
export async function bundleForNode(build, entry, file, logLevel = "warning") {
  const result = await build({
    ...entry,
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["@switchyard/source"],
    plugins: [externalPackages],
    logLevel,
  })
  const output = result.outputFiles[0]
  if (!output) throw new Error(`esbuild produced no bundle for ${file}`)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, output.contents)
  return file
}
