#!/usr/bin/env node
// The rolling-restart and SIGKILL soak of issue 11 (packages/tests/src/support/cluster/soak.ts): N Switchyard
// nodes on one redis-server behind a balancer with no affinity, a fleet of clients on mixed transports, a
// topic at a steady rate and continuous RPCs; each node restarted gracefully in turn, one killed. Prints a
// table per step and the totals, then PASS or FAIL against the bar of issue 11 (exit code 0 or 1).
// Usage (docs/scaling.md):
//
//   node scripts/cluster-soak.mjs                       # 1000 clients, 3 nodes, 200 msg/s, both scenarios
//   SOAK_CLIENTS=100 SOAK_SCENARIOS=kill node scripts/cluster-soak.mjs
//
// SOAK_CLIENTS (1000), SOAK_NODES (3), SOAK_RATE messages/s (200), SOAK_CALL_PAUSE_MS between one client's
// RPCs (250), SOAK_SCENARIOS (rolling,kill), SOAK_BALANCER (proxy, in a process of its own | nginx | proxy-in-process, inside this one), SOAK_SETTLE_MS (3000),
// SOAK_TIMEOUT_MS (60000), SOAK_HISTORY (each node's topicHistorySize: 5 s of SOAK_RATE, 1000), SOAK_CPU_PROF (a folder: a CPU profile of each node process's every life; profile
// the load generator itself with `node --cpu-prof scripts/cluster-soak.mjs`), SOAK_DUMP (a JSON file: what each client
// that missed anything saw, to trace a loss). SOAK_SCENARIOS may also name `steady`: traffic only, no restart.
//
// Node 20 cannot run TypeScript: esbuild bundles soak.ts (the workspace packages from their sources) into
// packages/tests/.tmp (scripts/lib/nodeBundle.mjs).
import { createRequire } from "node:module"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { bundleForNode } from "./lib/nodeBundle.mjs"

const root = fileURLToPath(new URL("..", import.meta.url))
const tests = join(root, "packages/tests")
const clusterDir = join(tests, "src/support/cluster")
const { build } = createRequire(join(tests, "package.json"))("esbuild")

const out = await bundleForNode(
  build,
  { entryPoints: [join(clusterDir, "soak.ts")] },
  join(tests, ".tmp/cluster-soak.mjs"),
)

const env = (name, fallback) => process.env[`SOAK_${name}`] || fallback
// nodes.ts finds nodeMain.ts beside itself; bundled here, it is told where that is.
process.env.SWITCHYARD_CLUSTER_DIR = clusterDir
const { soak } = await import(pathToFileURL(out).href)
const ok = await soak({
  clients: Number(env("CLIENTS", 1000)),
  nodes: Number(env("NODES", 3)),
  rate: Number(env("RATE", 200)),
  callPauseMs: Number(env("CALL_PAUSE_MS", 250)),
  scenarios: env("SCENARIOS", "rolling,kill").split(","),
  balancer: env("BALANCER", "proxy"),
  settleMs: Number(env("SETTLE_MS", 3000)),
  timeoutMs: Number(env("TIMEOUT_MS", 60000)),
  history: Number(env("HISTORY", Number(env("RATE", 200)) * 5)),
  ...(process.env.SOAK_CPU_PROF ? { cpuProfDir: process.env.SOAK_CPU_PROF } : {}),
  ...(process.env.SOAK_DUMP ? { dumpFile: process.env.SOAK_DUMP } : {}),
})
process.exit(ok ? 0 : 1)
