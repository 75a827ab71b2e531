import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build } from "esbuild"
import { expect, it } from "vitest"
import WebSocket from "ws"

const root = join(import.meta.dirname, "../../..")

/** The first ```ts block of the README: the twenty-line example. */
function readmeExample(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const match = /```ts\n([\s\S]*?)```/.exec(readme)
  if (!match?.[1]) throw new Error("README has no ts block")
  return match[1]
}

it("the README example type-checks and runs as written (on port 0)", async () => {
  const dir = join(root, "packages/tests/.tmp/readme")
  mkdirSync(dir, { recursive: true })
  const source = readmeExample().replace("server.listen(3000)", 'server.listen(0, "127.0.0.1")')
  expect(source).toContain('server.listen(0, "127.0.0.1")')
  // Teardown appended so that the run ends; the example itself is untouched above it.
  const file = join(dir, "example.ts")
  writeFileSync(
    file,
    `${source}\nawait new Promise((r) => setTimeout(r, 50))\nawait client.close()\nawait server.close()\nexport {}\n`,
  )
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../../tsconfig.base.json",
      compilerOptions: { customConditions: ["@switchyard/source"], noEmit: true, module: "nodenext" },
      files: ["example.ts"],
    }),
  )
  execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], { stdio: "pipe" })

  const out = join(dir, "example.mjs")
  await build({
    entryPoints: [file],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    conditions: ["@switchyard/source"],
    // Workspace packages and effect are bundled from source; ws stays a real dependency.
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
  expect(logged).toEqual([[3], [2], [1], [0]])
})
