import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { exampleBlocks } from "../../../scripts/docs-sync.mjs"
import { compileBlocks, type DocBlock, docBlocks, docFiles } from "./support/docBlocks.ts"

// Every ```ts block of docs/*.md and of the README type-checks as written (docs/site.md, "Checks"); a
// fragment on purpose says so, with its reason, in a `<!-- docs-check: skip (why) -->` marker.

const blocks = docFiles().flatMap((file) => docBlocks(file))
const checked = blocks.filter((b) => b.skip === undefined && b.example === undefined)
let messages: Map<DocBlock, string[]>

beforeAll(async () => {
  messages = await compileBlocks(checked)
}, 120_000)

const withBlocks = docFiles().filter((file) => checked.some((b) => b.where.startsWith(`${file}:`)))

describe.each(withBlocks)("%s", (file) => {
  const own = checked.filter((b) => b.where.startsWith(`${file}:`))
  it.each(own.map((b) => [b.where, b] as const))("the block at %s type-checks", (_, block) => {
    expect(messages.get(block), block.where).toEqual([])
  })
})

// A tutorial's blocks come from its example app (docs/site.md, "Code from the examples").
const fromExamples = docFiles().flatMap((file) => exampleBlocks(file))
const withExamples = docFiles().filter((file) => fromExamples.some((b) => b.where.startsWith(`${file}:`)))

describe.each(withExamples)("%s, blocks from the examples", (file) => {
  const own = fromExamples.filter((b) => b.where.startsWith(`${file}:`))
  it.each(own.map((b) => [b.where, b.source, b] as const))(
    "the block at %s is %s as it is (node scripts/docs-sync.mjs rewrites it)",
    (_, __, block) => {
      expect(block.shown, block.where).toBe(block.text)
    },
  )
})

it("the blocks are found, and a skip says why", () => {
  expect(checked.length).toBeGreaterThan(30)
  for (const block of blocks)
    if (block.skip !== undefined) expect(block.skip.trim().length, block.where).toBeGreaterThan(3)
})

it("a skip marker leaves its block out, a prelude is compiled above its block, and an unknown marker is refused", async () => {
  const dir = join(import.meta.dirname, "../.tmp/doc-blocks-markers")
  mkdirSync(dir, { recursive: true })
  const page = (text: string) => {
    writeFileSync(join(dir, "page.md"), text)
    return docBlocks("packages/tests/.tmp/doc-blocks-markers/page.md")
  }
  const blocks = page(
    [
      "<!-- docs-check: skip (a signature only) -->",
      "```ts",
      "function f(): number",
      "```",
      "<!-- docs-check: prelude",
      "declare const n: number",
      "-->",
      "",
      "```ts",
      "const s: string = n",
      "```",
    ].join("\n"),
  )
  expect(blocks.map((b) => [b.skip, b.prelude])).toEqual([
    ["a signature only", ""],
    [undefined, "declare const n: number"],
  ])
  const compiled = await compileBlocks(blocks.filter((b) => b.skip === undefined))
  expect([...compiled.values()]).toEqual([
    [
      "packages/tests/.tmp/doc-blocks-markers/page.md:10:7: error TS2322: Type 'number' is not assignable to type 'string'.",
    ],
  ])
  expect(() => page("<!-- docs-check: skip -->\n```ts\nx\n```\n")).toThrow(/not understood/)
})

it("an example marker takes a region of a file, dedented and without its region lines, and leaves the block uncompiled", () => {
  const dir = join(import.meta.dirname, "../.tmp/doc-blocks-markers")
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, "app.ts"),
    [
      "export function f() {",
      "  // #region body",
      "  const a = 1",
      "  // #region inner",
      "  return a",
      "  // #endregion inner",
      "  // #endregion body",
      "}",
      "",
    ].join("\n"),
  )
  const marker = "<!-- example: packages/tests/.tmp/doc-blocks-markers/app.ts#body -->"
  writeFileSync(join(dir, "page.md"), `${marker}\n\n\`\`\`ts\nconst a = 2\n\`\`\`\n`)
  const file = "packages/tests/.tmp/doc-blocks-markers/page.md"
  expect(docBlocks(file).map((b) => b.example)).toEqual(["packages/tests/.tmp/doc-blocks-markers/app.ts#body"])
  expect(exampleBlocks(file).map((b) => [b.where, b.shown, b.text])).toEqual([
    [`${file}:3`, "const a = 2", "const a = 1\nreturn a"],
  ])
  writeFileSync(join(dir, "page.md"), `${marker.replace("#body", "#none")}\n\`\`\`ts\nx\n\`\`\`\n`)
  expect(() => exampleBlocks(file)).toThrow(/no region none/)
})
