// Node 20 cannot run TypeScript: the launchers bundle a TypeScript entry with esbuild and import the
// bundle (scripts/lib/nodeBundle.mjs says why and how).
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build } from "esbuild"
import { bundleForNode } from "../../scripts/lib/nodeBundle.mjs"

/** Bundles the TypeScript file `entry` for Node and imports it. */
export async function importBundled(entry) {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-example-"))
  try {
    const file = await bundleForNode(build, { entryPoints: [entry] }, join(dir, "bundle.mjs"))
    return await import(pathToFileURL(file).href)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
