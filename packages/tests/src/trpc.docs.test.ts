// The migration guide of docs/trpc.md is code: its "after" block is type-checked and run as written (on
// port 0), as readme.test.ts does for the README.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { runDocExample } from "./support/docExample.ts"

const root = join(import.meta.dirname, "../../..")

/** The ```ts block of docs/trpc.md that starts with the migrated app's comment. */
function migratedApp(): string {
  const doc = readFileSync(join(root, "docs/trpc.md"), "utf8")
  const match = /```ts\n(\/\/ docs\/trpc\.md: the migrated app\n[\s\S]*?)```/.exec(doc)
  if (!match?.[1]) throw new Error("docs/trpc.md has no migrated app block")
  return match[1]
}

it("the migration guide's app type-checks and runs as written (on port 0)", async () => {
  const source = migratedApp().replace("server.listen(3000)", 'server.listen(0, "127.0.0.1")')
  expect(source).toContain('server.listen(0, "127.0.0.1")')
  const logged = await runDocExample("trpc-docs", `${source}\nexport {}\n`)
  expect(logged).toEqual([["hello world, ada"], [1], [2], [3]])
})
