import { expect, it } from "vitest"
import { runDocExample, tsBlock } from "./support/docExample.ts"

it("the README example type-checks and runs as written (on port 0)", async () => {
  // The first ```ts block of the README: the twenty-line example.
  const source = tsBlock("README.md").replace("server.listen(3000)", 'server.listen(0, "127.0.0.1")')
  expect(source).toContain('server.listen(0, "127.0.0.1")')
  // Teardown appended so that the run ends; the example itself is untouched above it.
  const logged = await runDocExample(
    "readme",
    `${source}\nawait new Promise((r) => setTimeout(r, 50))\nawait client.close()\nawait server.close()\nexport {}\n`,
  )
  expect(logged).toEqual([[3], [2], [1], [0]])
})
