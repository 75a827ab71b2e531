import { existsSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { type Export, generate, memberOf, publicExports, root } from "@switchyard/api-reference"
import { beforeAll, expect, it } from "vitest"
import { compileBlocks, type DocBlock } from "./support/docBlocks.ts"

// The API reference (docs/site.md, "API reference"): every public export of every package has a one-line
// summary, every entry point has an `@example` that type-checks, and every export has its place in the
// reference typedoc generates. The exports are listed with the TypeScript API from the program typedoc
// built, not from typedoc's output, so that an export typedoc leaves out is noticed.

/**
 * The entry points, which must have an `@example`: the exported functions a user calls first to set
 * something up, told by their names (docs/site.md, "API reference", says the same):
 * - `create…`: createClient, createServer, createTrpcServer;
 * - the contract builders `contract`, `rpc`, `stream`, `topic`, `peer`;
 * - factories named for what they make: `…Transport(s)`, `…Server`, `…Broker`, `…Cluster`, `…Nodes`,
 *   `…Presence` (websocketTransport, webrtcServer, redisBroker, memoryCluster…);
 * - the function a subpath entry exists for: peers, transportStore, nodeFetch, withTrpc, trpcHandlers,
 *   switchyardLink, effectPayloadCodec, registerEffectCodec, runTransportContractSuite;
 * and the methods listed in `entryMethods`.
 */
const entryPoint =
  /^(create[A-Z]\w*|contract|rpc|stream|topic|peer|\w+(Transports?|Server|Broker|Cluster|Nodes|Presence)|peers|transportStore|nodeFetch|withTrpc|trpcHandlers|switchyardLink|effectPayloadCodec|registerEffectCodec|runTransportContractSuite)$/
/** Methods of what an entry point returns that a user calls first: `[module, owner, method]`. */
const entryMethods = [["@switchyard/server-node", "Server", "listen"]] as const

const out = join(root, "packages/tests/.tmp/api-reference")
let exports: Export[] = []
let methods: Export[] = []
let compiled: Promise<Map<DocBlock, string[]>> | undefined
const blocks = new Map<string, DocBlock>()
let generateMs = 0

beforeAll(async () => {
  rmSync(out, { recursive: true, force: true })
  const { ms } = await generate({
    out,
    // Listed, and their examples handed to tsc, while typedoc goes on to write the pages.
    onProgram: (program) => {
      exports = publicExports(program)
      methods = entryMethods.flatMap(([module, owner, method]) => memberOf(program, module, owner, method) ?? [])
      for (const e of [...exports, ...methods]) {
        for (const { where, code } of e.examples) {
          // An example exported by several entry points is compiled once, with the first's prelude.
          if (blocks.has(where)) continue
          blocks.set(where, {
            where,
            code,
            prelude: /^import /m.test(code) ? "" : preludeOf(e.module),
            skip: undefined,
            example: undefined,
          })
        }
      }
      compiled = compileBlocks([...blocks.values()], "api-examples")
    },
  })
  generateMs = ms
}, 120_000)

/**
 * What an example without `import` lines is compiled with: the exports of the entry point it documents and
 * effect's `Schema`, as a reader of that entry point's page takes them as given (besides the names
 * packages/tests/docs-check/globals.d.ts declares for every block: `Chat`, `handlers`, `url`, `server`,
 * `client`). An example with `import` lines is compiled as written.
 */
function preludeOf(module: string): string {
  const own = exports.filter((e) => e.module === module && !(e.name === "Schema"))
  const names = own.map((e) => (e.typeOnly ? `type ${e.name}` : e.name))
  return `import * as Schema from "effect/Schema"\nimport { ${names.join(", ")} } from "${module}"`
}

/** `name (module, where)`, for the messages. */
const named = (e: Export) => `${e.name} (${e.module}, ${e.where})`

it("every public export has a one-line summary", () => {
  expect(exports.length).toBeGreaterThan(300)
  // The summary is the comment's first sentence: what a reader (and the entry point's page) sees first.
  expect(exports.filter((e) => e.summary === "").map(named)).toEqual([])
})

it("every entry point has an @example", () => {
  const points = [...exports.filter((e) => e.kind === "function" && entryPoint.test(e.name)), ...methods]
  // The rule finds what users call first; if a rename hid one of them, this says so.
  for (const name of ["createClient", "createServer", "contract", "websocketTransport", "redisBroker", "Server.listen"])
    expect(points.map((e) => e.name)).toContain(name)
  expect(points.filter((e) => e.examples.length === 0).map(named)).toEqual([])
})

it("every @example type-checks", async () => {
  expect(blocks.size).toBeGreaterThanOrEqual(50)
  const messages = await compiled
  const failures = [...(messages?.values() ?? [])].flat()
  expect(failures).toEqual([])
}, 60_000)

it("every export has its place in the generated reference", () => {
  // The reference's index links each entry point's page; that page has a section per export (its own, or a
  // "Re-exports" to the entry point that documents it), headed by the name (`_` escaped: `MAX\_CREDIT`).
  const index = readFileSync(join(out, "index.md"), "utf8")
  const pages = new Map([...index.matchAll(/^- \[([^\]]+)\]\(([^)]+\.md)\)$/gm)].map((m) => [m[1] ?? "", m[2] ?? ""]))
  expect([...pages.keys()].sort()).toEqual([...new Set(exports.map((e) => e.module))].sort())
  const headings = new Map<string, Set<string>>()
  for (const [module, file] of pages) {
    const text = existsSync(join(out, file)) ? readFileSync(join(out, file), "utf8") : ""
    headings.set(module, new Set(text.split("\n").filter((line) => line.startsWith("### "))))
  }
  const missing: string[] = []
  for (const e of exports) {
    const heading = `### ${e.name.replace(/_/g, "\\_")}`
    const found = headings.get(e.module)
    if (!found?.has(heading) && !found?.has(`${heading}()`)) missing.push(named(e))
  }
  expect(missing).toEqual([])
  console.log(
    `API reference: ${exports.length} exports of ${new Set(exports.map((e) => e.module)).size} entry points, ` +
      `${blocks.size} examples; generated in ${(generateMs / 1000).toFixed(1)} s`,
  )
})
