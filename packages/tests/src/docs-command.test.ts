import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"

// `pnpm docs`, as the README gives it, serves the site: pnpm hands `docs` to npm, and the repository's
// .npmrc points pnpm's npm at scripts/npm.mjs, which runs the `docs` script (docs/site.md).

const root = join(import.meta.dirname, "../../..")
let child: ChildProcess | undefined

afterAll(() => {
  // The dev server runs in the process group pnpm leads.
  if (child?.pid !== undefined) process.kill(-child.pid, "SIGTERM")
})

it("`pnpm docs` serves the site and prints its URL", async () => {
  const started = spawn("pnpm", ["docs"], { cwd: root, detached: true, env: { ...process.env, NO_COLOR: "1" } })
  child = started
  let output = ""
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed in 60 s:\n${output}`)), 60_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString()
      const found = /Local:\s+(?:\S*?)(http:\/\/[\w.:/-]+)/.exec(output)
      if (found?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(found[1])
      }
    }
    started.stdout.on("data", read)
    started.stderr.on("data", read)
    started.on("exit", (code) => reject(new Error(`pnpm docs exited (${code}):\n${output}`)))
  })
  expect(output).toContain("vitepress dev docs")
  // VitePress's dev server: the app's shell, which renders the pages in the browser, and the pages of docs/.
  const shell = await fetch(url)
  expect(shell.status).toBe(200)
  expect(await shell.text()).toMatch(/<div id="app"><\/div>[\s\S]*vitepress\/dist\/client\/app\/index\.js/)
  const page = await fetch(new URL("sessions.md", url))
  expect(page.status).toBe(200)
  expect(await page.text()).toMatch(/^# Sessions\n/)
}, 75_000)
