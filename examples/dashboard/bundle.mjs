// The dashboard's launcher runs its TypeScript server in Node 20 through one esbuild bundle
// (scripts/lib/nodeBundle.mjs says why and how).
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build } from "esbuild"
import { bundleForNode } from "../../scripts/lib/nodeBundle.mjs"

/** Bundles a TypeScript entry (esbuild's `entryPoints` or `stdin`) for Node and imports it. */
export async function importBundled(entry) {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-dashboard-"))
  try {
    const file = await bundleForNode(build, entry, join(dir, "server.mjs"))
    return await import(pathToFileURL(file).href)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
