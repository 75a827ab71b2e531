// Each input file's share of a gzipped chunk, for `node scripts/size.mjs --shares`: what the chunk would
// lose, gzipped, without that file's code. esbuild marks every file in its output (`// path` before its
// code) only when it does not minify whitespace, so the entry is bundled again with the syntax and the
// identifiers minified, split at those marks, and each file's code minified on its own (its whitespace:
// a file's code is whole statements). Gzipped together, the pieces come within about 1% of the chunk as
// the page loads it; each file's share is the whole gzipped less the whole without that file. gzip finds
// repeats across files, so the shares add up to about 0.9 of the chunk: a file whose code repeats another's
// weighs less than it would alone.
import { resolve } from "node:path"
import { gzipSync } from "node:zlib"

const gz = (text) => gzipSync(text, { level: 9 }).byteLength

/**
 * Each input's share of each chunk named in `chunks` (keys: a chunk's input paths, sorted, joined by
 * newlines), from one build with `options` (esbuild's, as for the measured build) and whitespace kept.
 * Returns, per key, the chunk's pieces gzipped together (`total`) and the shares, largest first.
 */
export async function gzipShares(esbuild, options, chunks) {
  const { outputFiles, metafile } = await esbuild.build({
    ...options,
    minify: false,
    minifySyntax: true,
    minifyIdentifiers: true,
    write: false,
    metafile: true,
  })
  const result = new Map()
  for (const [path, output] of Object.entries(metafile.outputs)) {
    const key = Object.keys(output.inputs).sort().join("\n")
    if (!chunks.includes(key)) continue
    // The metafile's paths are relative to esbuild's working directory, the files' are absolute.
    const file = outputFiles.find((f) => f.path === resolve(options.absWorkingDir ?? process.cwd(), path))
    if (file !== undefined) result.set(key, await sharesOf(esbuild, file.text))
  }
  return result
}

async function sharesOf(esbuild, text) {
  const pieces = []
  for (const part of text.split(/^(?=\/\/ [^\n]*\.(?:js|ts)\n)/m)) {
    const name = /^\/\/ (.*)/.exec(part)?.[1] ?? "(chunk head)"
    let code = part
    try {
      code = (await esbuild.transform(part, { minifyWhitespace: true, format: "esm" })).code
    } catch {
      // a piece that does not parse alone (none does today) is counted as it is
    }
    pieces.push({ name, code })
  }
  const joined = (skip) =>
    pieces
      .filter((_, j) => j !== skip)
      .map((p) => p.code)
      .join("")
  const total = gz(joined(-1))
  const shares = pieces.map((piece, i) => ({ name: shortName(piece.name), bytes: total - gz(joined(i)) }))
  return { total, shares: shares.sort((a, b) => b.bytes - a.bytes) }
}

/** `packages/…` or `size/…` for the workspace's files, the package's path for a dependency's. */
const shortName = (path) =>
  path.replace(/^.*node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?/, "").replace(/^.*?(packages\/|size\/)/, "$1")
