import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build, type Plugin } from "esbuild"

/**
 * Bundling TypeScript to run in a child Node process. Node 20 cannot run TypeScript, so, as
 * `examples/chat/bundle.mjs` does, esbuild bundles the entry with the workspace packages taken from their
 * TypeScript sources (`@switchyard/source`), every other package left external by absolute path, so that
 * Node loads it from node_modules as usual.
 */

/** Bundles `@switchyard/*` and relative imports; leaves every other package external, by absolute path. */
const externalPackages: Plugin = {
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

let dir: string | undefined

/** A directory for this process's bundles, removed when it exits. */
function bundleDir(): string {
  if (dir === undefined) {
    const made = mkdtempSync(join(tmpdir(), "switchyard-cluster-"))
    dir = made
    process.once("exit", () => rmSync(made, { recursive: true, force: true }))
  }
  return dir
}

/**
 * Bundles the module `contents` (TypeScript, imports resolved from `resolveDir`) into an ES module file
 * for Node 20, and returns its path. Rejects with esbuild's errors, e.g. an import that cannot be resolved.
 */
export async function bundleForNode(name: string, contents: string, resolveDir: string): Promise<string> {
  const result = await build({
    stdin: { contents, resolveDir, loader: "ts", sourcefile: `${name}.ts` },
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["@switchyard/source"],
    plugins: [externalPackages],
    logLevel: "silent",
  })
  const output = result.outputFiles[0]
  if (!output) throw new Error(`esbuild produced no bundle for ${name}`)
  const file = join(bundleDir(), `${name}.mjs`)
  writeFileSync(file, output.contents)
  return file
}
