#!/usr/bin/env node
// The session flood of issue 12, item 3, in full (not in CI): a server with the default limits in a child
// process; HELLOs without a token from 127.0.0.1 over WebSocket and long polling, from two processes, as
// fast as they go; an honest client from another loopback address connecting and making one RPC every
// second. Prints the refused count, the server's RSS (start and peak), the sessions it held and each
// honest client's time to its first RPC, then PASS (all under 1 s) or FAIL (exit code 0 or 1).
// packages/tests/src/issue-12-session-flood.test.ts is the few-second version that runs in CI.
//
//   node scripts/attack-flood.mjs
//   FLOOD_SECONDS=60 FLOOD_LOOPS=128 node scripts/attack-flood.mjs
//
// FLOOD_SECONDS (30), FLOOD_LOOPS per process (64), FLOOD_HONEST_EVERY_MS (1000).
//
// Node 20 cannot run TypeScript: support/flood/attack.ts is bundled by scripts/lib/nodeBundle.mjs into
// packages/tests/.tmp.
import { createRequire } from "node:module"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { bundleForNode } from "./lib/nodeBundle.mjs"

const root = fileURLToPath(new URL("..", import.meta.url))
const tests = join(root, "packages/tests")
const floodDir = join(tests, "src/support/flood")
const { build } = createRequire(join(tests, "package.json"))("esbuild")
const out = await bundleForNode(
  build,
  { entryPoints: [join(floodDir, "attack.ts")] },
  join(tests, ".tmp/attack-flood.mjs"),
)

// processes.ts finds flooderMain.ts and serverMain.ts beside itself; bundled here, it is told where that is.
process.env.SWITCHYARD_FLOOD_DIR = floodDir
const env = (name, fallback) => Number(process.env[`FLOOD_${name}`] || fallback)
const { attackFlood } = await import(pathToFileURL(out).href)
const ok = await attackFlood({
  durationMs: env("SECONDS", 30) * 1000,
  loops: env("LOOPS", 64),
  honestEveryMs: env("HONEST_EVERY_MS", 1000),
})
process.exit(ok ? 0 : 1)
