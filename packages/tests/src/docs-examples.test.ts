import { expect, it } from "vitest"
import { runDocExample, tsBlock } from "./support/docExample.ts"

it("docs/errors.md: the rpc({ error }) example type-checks and runs as written (on port 0)", async () => {
  const source = tsBlock("docs/errors.md", 0, "## Handling typed failures").replace(
    "server.listen(3000)",
    'server.listen(0, "127.0.0.1")',
  )
  expect(source).toContain('server.listen(0, "127.0.0.1")')
  expect(source).toContain("error: Schema.Struct(")
  const logged = await runDocExample("errors", `${source}\nawait client.close()\nawait server.close()\nexport {}\n`)
  expect(logged).toEqual([["divide failed: DivisionByZero", 1]])
})
