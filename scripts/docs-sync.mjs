#!/usr/bin/env node
// A tutorial's code comes from its example app (docs/site.md, "Code from the examples"): a fenced block
// right after `<!-- example: examples/<app>/src/<file>.ts#<region> -->` is the text of that region of
// that file (`// #region <name>` … `// #endregion <name>`, or `# #region` in a config file), without the
// region lines and dedented; without `#<region>` it is the whole file. `node scripts/docs-sync.mjs`
// rewrites every such block from its source; `--check` only reports the blocks that differ (exit 1), as
// packages/tests/src/docs-blocks.test.ts does.
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

const marker = /^<!-- example: ([^\s#]+)(?:#([\w-]+))? -->$/
const regionLine = /^\s*(?:\/\/|#|<!--|\/\*)\s*#(?:end)?region\b/

/** The text a marker names: a region of a file of the repository (or the whole file), dedented. */
export function exampleText(path, region) {
  const lines = readFileSync(join(root, path), "utf8").replace(/\n$/, "").split("\n")
  let body = lines
  if (region !== undefined) {
    const open = new RegExp(`^\\s*(?://|#|<!--|/\\*)\\s*#region ${region}\\b`)
    const close = new RegExp(`^\\s*(?://|#|<!--|/\\*)\\s*#endregion(?: ${region}\\b|\\s*(?:-->|\\*/)?\\s*$)`)
    const start = lines.findIndex((l) => open.test(l))
    if (start === -1) throw new Error(`${path} has no region ${region}`)
    const end = lines.findIndex((l, i) => i > start && close.test(l))
    if (end === -1) throw new Error(`${path}: region ${region} is not closed`)
    body = lines.slice(start + 1, end)
  }
  body = body.filter((l) => !regionLine.test(l))
  const indents = body.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)?.[0].length ?? 0)
  const cut = indents.length === 0 ? 0 : Math.min(...indents)
  return body.map((l) => l.slice(cut)).join("\n")
}

/**
 * The blocks of a markdown file that come from an example: where (`docs/x.md:12`, the opening fence),
 * the source it names, the text in the page and the text of the source.
 */
export function exampleBlocks(file) {
  const lines = readFileSync(join(root, file), "utf8").split("\n")
  const found = []
  for (let i = 0; i < lines.length; i++) {
    const m = marker.exec(lines[i] ?? "")
    if (m === null) continue
    let open = i + 1
    while ((lines[open] ?? "").trim() === "" && open < lines.length) open++
    if (!(lines[open] ?? "").startsWith("```"))
      throw new Error(`${file}:${i + 1}: an example marker must stand right before a code block`)
    let close = open + 1
    while (close < lines.length && !(lines[close] ?? "").startsWith("```")) close++
    if (close >= lines.length) throw new Error(`${file}:${open + 1}: unclosed code block`)
    const source = m[2] === undefined ? m[1] : `${m[1]}#${m[2]}`
    found.push({
      where: `${file}:${open + 1}`,
      source,
      open,
      close,
      shown: lines.slice(open + 1, close).join("\n"),
      text: exampleText(m[1], m[2]),
    })
    i = close
  }
  return found
}

/** Every markdown page of docs/ and the README. */
export function pages() {
  return [
    ...readdirSync(join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .sort()
      .map((f) => `docs/${f}`),
    "README.md",
  ]
}

function sync(file) {
  const blocks = exampleBlocks(file).filter((b) => b.shown !== b.text)
  if (blocks.length === 0) return []
  const lines = readFileSync(join(root, file), "utf8").split("\n")
  for (const b of [...blocks].reverse()) lines.splice(b.open + 1, b.close - b.open - 1, ...b.text.split("\n"))
  writeFileSync(join(root, file), lines.join("\n"))
  return blocks
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check")
  let stale = 0
  for (const file of pages()) {
    const changed = check ? exampleBlocks(file).filter((b) => b.shown !== b.text) : sync(file)
    for (const b of changed) console.log(`${b.where}: ${check ? "differs from" : "rewritten from"} ${b.source}`)
    stale += changed.length
  }
  if (check && stale > 0) {
    console.log(`${stale} block(s) differ from their example: run node scripts/docs-sync.mjs`)
    process.exit(1)
  }
}
