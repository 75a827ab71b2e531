// The migration guide of docs/trpc.md is code: its "after" block is type-checked and run as written (on
// port 0), as readme.test.ts does for the README.
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build } from "esbuild"
import { expect, it } from "vitest"
import WebSocket from "ws"

const root = join(import.meta.dirname, "../../..")

/** The ```ts block of docs/trpc.md that starts with the migrated app's comment. */
function migratedApp(): string {
  const doc = readFileSync(join(root, "docs/trpc.md"), "utf8")
  const match = /```ts\n(\/\/ docs\/trpc\.md: the migrated app\n[\s\S]*?)```/.exec(doc)
  if (!match?.[1]) throw new Error("docs/trpc.md has no migrated app block")
  return match[1]
}

it("the migration guide's app type-checks and runs as written (on port 0)", async () => {
  const dir = join(root, "packages/tests/.tmp/trpc-docs")
  mkdirSync(dir, { recursive: true })
  const source = migratedApp().replace("server.listen(3000)", 'server.listen(0, "127.0.0.1")')
  expect(source).toContain('server.listen(0, "127.0.0.1")')
  const file = join(dir, "app.ts")
  writeFileSync(file, `${source}\nexport {}\n`)
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../../tsconfig.base.json",
      compilerOptions: { customConditions: ["@switchyard/source"], noEmit: true, module: "nodenext" },
      files: ["app.ts"],
    }),
  )
  execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], { stdio: "pipe" })

  const out = join(dir, "app.mjs")
  await build({
    entryPoints: [file],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    conditions: ["@switchyard/source"],
    external: ["ws"],
    logLevel: "silent",
  })
  const logged: unknown[][] = []
  const log = console.log
  const globals = globalThis as { WebSocket?: unknown }
  const hadWebSocket = "WebSocket" in globals
  const previous = globals.WebSocket
  globals.WebSocket = WebSocket
  console.log = (...args: unknown[]) => logged.push(args)
  try {
    await import(pathToFileURL(out).href)
  } finally {
    console.log = log
    if (hadWebSocket) globals.WebSocket = previous
    else delete globals.WebSocket
  }
  expect(logged).toEqual([["hello world, ada"], [1], [2], [3]])
})
