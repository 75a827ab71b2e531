// Node 20 cannot run TypeScript: the launchers bundle src/ first (scripts/lib/nodeBundle.mjs says how).
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build } from "esbuild"
import { bundleForNode } from "../../scripts/lib/nodeBundle.mjs"

/** Bundles a TypeScript file of src/ for Node and imports it. */
export async function importBundled(file) {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-redis-"))
  try {
    const out = await bundleForNode(build, { entryPoints: [file] }, join(dir, "main.mjs"))
    return await import(pathToFileURL(out).href)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
