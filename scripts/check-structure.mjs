#!/usr/bin/env node
// Structure checks run by `pnpm test` (scripts/test-all.mjs): no import cycle anywhere in the packages,
// examples or bench (madge, type-only imports included), and no source file in packages/*/src over
// MAX_LINES lines (tests, type tests, packages/tests and generated files aside), and every repository file a
// doc or a comment cites exists. docs/architecture.md says why.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import madge from "madge"

export const MAX_LINES = 400
const root = new URL("..", import.meta.url).pathname
const ignored = /(^|\/)(node_modules|dist|\.tmp)(\/|$)/

function files(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (ignored.test(path)) continue
    if (statSync(path).isDirectory()) files(path, out)
    else out.push(path)
  }
  return out
}

const packages = readdirSync(join(root, "packages")).map((p) => join(root, "packages", p, "src"))
const examples = readdirSync(join(root, "examples")).map((p) => join(root, "examples", p))
let ok = true

const graph = await madge([...packages, ...examples, join(root, "bench")], {
  baseDir: root,
  fileExtensions: ["ts", "mts", "mjs", "js"],
  excludeRegExp: [ignored],
})
const cycles = graph.circular()
if (cycles.length > 0) {
  ok = false
  console.log(`Import cycles (${cycles.length}):`)
  for (const cycle of cycles) console.log(`  ${[...cycle, cycle[0]].join(" → ")}`)
} else console.log(`No import cycle in ${Object.keys(graph.obj()).length} files.`)

const long = []
// packages/tests is test code throughout (its support/ folder holds fixtures, not product code).
for (const dir of packages.filter((p) => !p.includes("/packages/tests/"))) {
  for (const file of files(dir)) {
    if (!/\.(ts|mts)$/.test(file) || /\.test(-d)?\.ts$/.test(file) || /\.d\.ts$/.test(file)) continue
    const lines = readFileSync(file, "utf8").split("\n").length - 1
    if (lines > MAX_LINES) long.push([relative(root, file), lines])
  }
}
if (long.length > 0) {
  ok = false
  console.log(`Source files over ${MAX_LINES} lines (split them by concern):`)
  for (const [file, lines] of long.sort((a, b) => b[1] - a[1])) console.log(`  ${file}: ${lines}`)
} else console.log(`No source file in packages/*/src over ${MAX_LINES} lines.`)

// Docs and comments cite files of this repository only, and those files exist: repository paths written
// out (`packages/core/src/errors.ts`) and relative Markdown links (`[limits](limits.md#anchor)`).
const cited = /\b(?:packages|examples|bench|scripts|size|docs)\/[\w./-]+\.(?:ts|mts|mjs|md|json|yaml)\b/g
// A bare UPPER_CASE.md name (DESIGN.md, CHANGELOG.md) must be a file at the root of the repository.
const bare = /(?<![\w/.-])[A-Z][A-Z_]+\.md\b/g
const link = /\]\((?!https?:|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)/g
const docs = [
  ...files(join(root, "docs")).filter((f) => f.endsWith(".md")),
  join(root, "README.md"),
  ...[join(root, "bench"), join(root, "examples")].flatMap((d) => files(d).filter((f) => f.endsWith("README.md"))),
]
const sources = [...packages, ...examples].flatMap((d) => files(d).filter((f) => /\.(ts|mts|mjs)$/.test(f)))
const broken = []
for (const file of [...docs, ...sources]) {
  const text = readFileSync(file, "utf8")
  for (const m of text.matchAll(cited)) {
    // Files under `.tmp/` are written by the tests while they run (gitignored): not there in a fresh clone.
    if (m[0].includes("/.tmp/")) continue
    if (!existsSync(join(root, m[0]))) broken.push(`${relative(root, file)}: ${m[0]}`)
  }
  for (const m of text.matchAll(bare)) {
    if (!existsSync(join(root, m[0])) && !existsSync(join(dirname(file), m[0])))
      broken.push(`${relative(root, file)}: ${m[0]}`)
  }
  if (!file.endsWith(".md")) continue
  for (const m of text.matchAll(link)) {
    if (!existsSync(join(dirname(file), m[1]))) broken.push(`${relative(root, file)}: ${m[1]}`)
  }
}
if (broken.length > 0) {
  ok = false
  console.log("Citations of files that do not exist:")
  for (const b of broken) console.log(`  ${b}`)
} else console.log(`Every file cited in ${docs.length} docs and ${sources.length} sources exists.`)

process.exit(ok ? 0 : 1)
