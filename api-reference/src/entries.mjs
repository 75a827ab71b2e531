// The public entry points of the packages: each subpath of a package's `exports` that has a source file
// (the `@switchyard/source` condition), named as users import it (`@switchyard/core/testing`).
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

export const root = join(import.meta.dirname, "../..")

/**
 * @typedef {{ readonly module: string, readonly file: string }} Entry
 * `module` is the import specifier, `file` the source file's path from the repository root.
 */

/** @returns {Entry[]} every public entry point, in package order. */
export function entries() {
  /** @type {Entry[]} */
  const found = []
  for (const dir of readdirSync(join(root, "packages")).sort()) {
    const manifest = JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8"))
    if (manifest.private === true || manifest.exports === undefined) continue
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      const source = target !== null && typeof target === "object" ? target["@switchyard/source"] : undefined
      if (typeof source !== "string") continue
      found.push({
        module: subpath === "." ? manifest.name : `${manifest.name}${subpath.slice(1)}`,
        file: join("packages", dir, source),
      })
    }
  }
  return found
}
