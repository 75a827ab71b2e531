import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { build } from "esbuild"
import { bundleForNode as bundle } from "../../../../../scripts/lib/nodeBundle.mjs"

/**
 * Bundling TypeScript to run in a child Node process, through the one esbuild bundle for Node that the chat
 * example and the soak share (scripts/lib/nodeBundle.mjs says why and how).
 */

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
  return bundle(
    build,
    { stdin: { contents, resolveDir, loader: "ts", sourcefile: `${name}.ts` } },
    join(bundleDir(), `${name}.mjs`),
    "silent",
  )
}
