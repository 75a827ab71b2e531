import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { build } from "esbuild"
import WebSocket from "ws"

const root = join(import.meta.dirname, "../../../..")

/** The `index`th ```ts block (from 0) of a markdown file of the repository, after `heading` when given. */
export function tsBlock(file: string, index = 0, heading?: string): string {
  let text = readFileSync(join(root, file), "utf8")
  if (heading !== undefined) {
    const at = text.indexOf(heading)
    if (at === -1) throw new Error(`${file} has no heading ${heading}`)
    text = text.slice(at)
  }
  const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)]
  const block = blocks[index]?.[1]
  if (block === undefined) throw new Error(`${file} has no ts block ${index}${heading ? ` after ${heading}` : ""}`)
  return block
}

/**
 * Type-checks an example from the docs as written (strict, against the packages' sources), bundles it and
 * runs it in this process with `ws` as the global `WebSocket`. Returns what it passed to `console.log`.
 */
export async function runDocExample(name: string, source: string): Promise<unknown[][]> {
  const dir = join(root, "packages/tests/.tmp", name)
  mkdirSync(dir, { recursive: true })
  const file = join(dir, "example.ts")
  writeFileSync(file, source)
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../../tsconfig.base.json",
      compilerOptions: { customConditions: ["@switchyard/source"], noEmit: true, module: "nodenext" },
      files: ["example.ts"],
    }),
  )
  try {
    execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], { stdio: "pipe" })
  } catch (error) {
    throw new Error(`the ${name} example does not type-check:\n${String((error as { stdout?: unknown }).stdout)}`)
  }

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
    await import(`${pathToFileURL(out).href}?${Date.now()}`)
  } finally {
    console.log = log
    if (hadWebSocket) globals.WebSocket = previous
    else delete globals.WebSocket
  }
  return logged
}
