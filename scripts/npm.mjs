#!/usr/bin/env node
// The npm that pnpm runs in this repository (.npmrc: `npm-path`). pnpm hands a few commands to npm
// instead of running the package.json script of that name, `docs` among them, so `pnpm docs` would open
// the package's page on npmjs.com; here a bare `pnpm docs` serves the docs site (the `docs` script,
// docs/site.md) and every other command goes to npm unchanged.
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const args = process.argv.slice(2)
const root = fileURLToPath(new URL("..", import.meta.url))
const [command, file] =
  args.length === 1 && args[0] === "docs"
    ? ["pnpm", ["run", "docs"]]
    : // The real npm: found on PATH, as pnpm would have found it without this file.
      ["npm", args]
const result = spawnSync(command, file, { stdio: "inherit", cwd: command === "pnpm" ? root : process.cwd() })
if (result.error) throw result.error
process.exit(result.status ?? 1)
