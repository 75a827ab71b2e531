import { existsSync, readFileSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
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
 *   `…Presence`, `…Link` (websocketTransport, webrtcServer, redisBroker, memoryCluster, switchyardLink…);
 * - the function a subpath entry exists for: peers, transportStore, nodeFetch, withTrpc, trpcHandlers,
 *   effectPayloadCodec, registerEffectCodec, runTransportContractSuite;
 * and the methods listed in `entryMethods`.
 */
const entryPoint =
  /^(create[A-Z]\w*|contract|rpc|stream|topic|peer|\w+(Transports?|Server|Broker|Cluster|Nodes|Presence|Link)|peers|transportStore|nodeFetch|withTrpc|trpcHandlers|effectPayloadCodec|registerEffectCodec|runTransportContractSuite)$/
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
      for (const example of [...exports, ...methods].flatMap((e) => e.examples)) {
        blocks.set(example.where, { where: example.where, code: example.code, prelude: "", skip: undefined })
      }
      compiled = compileBlocks([...blocks.values()], "api-examples")
    },
  })
  generateMs = ms
}, 120_000)

/** `name (module, where)`, for the messages. */
const named = (e: Export) => `${e.name} (${e.module}, ${e.where})`

it("every public export has a one-line summary", () => {
  expect(exports.length).toBeGreaterThan(300)
  expect(exports.filter((e) => e.summary === "").map(named)).toEqual([])
  // One line: the summary is the first sentence a reader (and the reference's module index) sees.
  expect(exports.filter((e) => e.summary.length > 200).map(named)).toEqual([])
})

it("every entry point has an @example", () => {
  const points = [...exports.filter((e) => e.kind === "function" && entryPoint.test(e.name)), ...methods]
  // The rule finds what users call first; if a rename hid one of them, this says so.
  for (const name of ["createClient", "createServer", "contract", "websocketTransport", "redisBroker", "Server.listen"])
    expect(points.map((e) => e.name)).toContain(name)
  expect(points.filter((e) => e.examples.length === 0).map(named)).toEqual([])
})

it("every @example type-checks", async () => {
  expect(blocks.size).toBeGreaterThan(50)
  const messages = await compiled
  const failures = [...(messages?.values() ?? [])].flat()
  expect(failures).toEqual([])
}, 60_000)

it("every export has its place in the generated reference", () => {
  const missing: string[] = []
  for (const e of exports) {
    // Each entry point's page lists its exports, with a link to the page of each (or of the export it re-exports).
    const page = join(out, e.module, "index.md")
    const text = existsSync(page) ? readFileSync(page, "utf8") : ""
    const link = new RegExp(`\\[${e.name.replace(/\$/g, "\\$")}\\]\\(([^)#]+)\\)`).exec(text)
    if (link?.[1] === undefined || !existsSync(join(dirname(page), link[1]))) missing.push(named(e))
  }
  expect(missing).toEqual([])
  console.log(
    `API reference: ${exports.length} exports of ${new Set(exports.map((e) => e.module)).size} entry points, ` +
      `${blocks.size} examples; generated in ${(generateMs / 1000).toFixed(1)} s`,
  )
})
