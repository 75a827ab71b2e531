import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type Export, generate, memberExamples, memberOf, publicExports, root } from "@switchyard/api-reference"
import { beforeAll, expect, it } from "vitest"
import { compileBlocks, type DocBlock } from "./support/docBlocks.ts"

// The API reference (docs/site.md, "API reference"): every public export of every package has a one-line
// summary, every entry point has an `@example`, every `@example` of an export or of a member of one
// (`ServerOptions.authenticate`) type-checks, and every export has its place in the reference typedoc
// generates. The exports are listed with the TypeScript API from the program typedoc built, not from
// typedoc's output, so that an export typedoc leaves out is noticed.

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
/**
 * Methods of what an entry point returns that a user calls first: `[module, owner, method]`. Their examples
 * are compiled with every member's (memberExamples); here they are asked to have one.
 */
const entryMethods = [["@switchyard/server-node", "Server", "listen"]] as const

const out = join(root, "packages/tests/.tmp/api-reference")
let exports: Export[] = []
let methods: Export[] = []
let members: Export[] = []
let compiled: Promise<string[]> | undefined
let blocks = new Map<DocBlock, Export>()
let generateMs = 0

beforeAll(async () => {
  rmSync(out, { recursive: true, force: true })
  const { ms } = await generate({
    out,
    // Listed, and their examples handed to tsc, while typedoc goes on to write the pages.
    onProgram: (program) => {
      exports = publicExports(program)
      methods = entryMethods.flatMap(([module, owner, method]) => memberOf(program, module, owner, method) ?? [])
      members = memberExamples(program)
      blocks = blocksOf([...exports, ...members], exports)
      compiled = failuresOf(blocks, "api-examples")
    },
  })
  generateMs = ms
}, 120_000)

/**
 * The examples of `documented` (exports and members) as blocks to compile, each with what it documents.
 * An example listed more than once (an export of several entry points, a member of an export and of one
 * that extends it) is compiled once, with the first's prelude.
 */
function blocksOf(documented: readonly Export[], exported: readonly Export[]): Map<DocBlock, Export> {
  const found = new Map<DocBlock, Export>()
  const wheres = new Set<string>()
  for (const e of documented) {
    for (const { where, code } of e.examples) {
      if (wheres.has(where)) continue
      wheres.add(where)
      const prelude = /^import /m.test(code) ? "" : preludeOf(e.module, exported)
      found.set({ where, code, prelude, skip: undefined, example: undefined }, e)
    }
  }
  return found
}

/**
 * What an example without `import` lines is compiled with: the exports of the entry point it documents (a
 * member's: its owner's) and effect's `Schema`, as a reader of that entry point's page takes them as given
 * (besides the names packages/tests/docs-check/globals.d.ts declares for every block: `Chat`, `handlers`,
 * `url`, `server`, `client`). An example with `import` lines is compiled as written.
 */
function preludeOf(module: string, exported: readonly Export[]): string {
  const own = exported.filter((e) => e.module === module && !(e.name === "Schema"))
  const names = own.map((e) => (e.typeOnly ? `type ${e.name}` : e.name))
  return `import * as Schema from "effect/Schema"\nimport { ${names.join(", ")} } from "${module}"`
}

/** Compiles the blocks; the compiler's messages, each after the name of the export or member it is about. */
async function failuresOf(compiling: Map<DocBlock, Export>, folder: string): Promise<string[]> {
  const messages = await compileBlocks([...compiling.keys()], folder)
  return [...messages].flatMap(([block, list]) => list.map((m) => `${compiling.get(block)?.name}: ${m}`))
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

it("the @examples of the exports' members are compiled with the exports'", () => {
  // Methods and properties of classes, interfaces and object types, inherited ones and a class's statics.
  for (const name of ["Server.listen", "ServerOptions.authenticate", "ClientOptions.auth", "Client.reauthenticate"])
    expect(members.map((e) => e.name)).toContain(name)
  const compiledAt = new Set([...blocks.keys()].map((b) => b.where))
  expect(members.flatMap((e) => e.examples.map((x) => x.where)).filter((w) => !compiledAt.has(w))).toEqual([])
})

it("every @example type-checks", async () => {
  expect(blocks.size).toBeGreaterThanOrEqual(70)
  expect(await compiled).toEqual([])
}, 60_000)

it("an @example of a member that does not type-check is found and named, an instance's, a static's or an interface's", async () => {
  const dir = join(root, "packages/tests/.tmp/api-member-fixture")
  mkdirSync(dir, { recursive: true })
  const fence = "```"
  writeFileSync(
    join(dir, "box.ts"),
    [
      "/** A box. */",
      "export class Box {",
      "  /**",
      "   * How much it holds.",
      "   * @example",
      `   * ${fence}ts`,
      "   * const size: string = new Box().size",
      `   * ${fence}`,
      "   */",
      "  readonly size: number = 1",
      "  /**",
      "   * An empty box.",
      "   * @example",
      `   * ${fence}ts`,
      "   * Box.empty().size.toFixed()",
      `   * ${fence}`,
      "   */",
      "  static empty(): Box {",
      "    return new Box()",
      "  }",
      "}",
      "/** How a box is made. */",
      "export interface BoxOptions {",
      "  /**",
      "   * What is written on it.",
      "   * @example",
      `   * ${fence}ts`,
      "   * const options: BoxOptions = { label: 1 }",
      `   * ${fence}`,
      "   */",
      "  readonly label?: string",
      "}",
      "",
    ].join("\n"),
  )
  // The fixture is imported by its path from the folder the examples are compiled in (packages/tests/.tmp/*).
  const list = [{ module: "../api-member-fixture/box.ts", file: "packages/tests/.tmp/api-member-fixture/box.ts" }]
  const found = memberExamples(undefined, list)
  expect(found.map((e) => [e.name, e.kind, e.summary, e.where])).toEqual([
    ["Box.size", "property", "How much it holds.", "packages/tests/.tmp/api-member-fixture/box.ts:10"],
    ["Box.empty", "method", "An empty box.", "packages/tests/.tmp/api-member-fixture/box.ts:18"],
    ["BoxOptions.label", "property", "What is written on it.", "packages/tests/.tmp/api-member-fixture/box.ts:31"],
  ])
  const failures = await failuresOf(blocksOf(found, publicExports(undefined, list)), "api-member-fixture-examples")
  expect(failures).toEqual([
    "Box.size: packages/tests/.tmp/api-member-fixture/box.ts:7:7: error TS2322: Type 'number' is not assignable to type 'string'.",
    "BoxOptions.label: packages/tests/.tmp/api-member-fixture/box.ts:28:31: error TS2322: Type 'number' is not assignable to type 'string'.",
  ])
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
      `${members.length} members with examples, ${blocks.size} examples; generated in ${(generateMs / 1000).toFixed(1)} s`,
  )
})
