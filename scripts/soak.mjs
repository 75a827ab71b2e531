#!/usr/bin/env node
// `pnpm soak`: the fuzzers for longer, then a reconnect storm, churn and a chaos run against one server
// process, with their figures (docs/fuzzing.md). Not part of CI; takes about 6 to 9 minutes on a shared
// 2-core machine with the defaults. Exit code 0 when everything held, 1 otherwise.
//
//   pnpm soak
//   SOAK_STORM_CLIENTS=2000 SOAK_CHAOS_MS=300000 pnpm soak
//
// SOAK_CODEC_RUNS: fast-check runs per codec property (100000). SOAK_LIVE_RUNS: runs per live-server fuzz
// property (600), each stopped after SOAK_LIVE_TIME_LIMIT_MS (45000). SOAK_STORM_CLIENTS (1000) and
// SOAK_STORM_RATE messages/s (200). SOAK_CHURN_CYCLES per transport (2000). SOAK_CHAOS_CLIENTS (60),
// SOAK_CHAOS_MS (90000), SOAK_SEED (1). SOAK_SKIP_FUZZ=1 goes straight to the storm. SOAK_PHASES: which of
// storm, churn and chaos run (all of them; `SOAK_SKIP_FUZZ=1 SOAK_PHASES=storm pnpm soak` is the storm alone).
//
// Node 20 cannot run TypeScript: esbuild bundles packages/tests/src/support/soak/{run,server}.ts (the
// workspace packages from their sources) into packages/tests/.tmp, as scripts/cluster-soak.mjs does.
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { bundleForNode } from "./lib/nodeBundle.mjs"

const root = fileURLToPath(new URL("..", import.meta.url))
const tests = join(root, "packages/tests")
const env = (name, fallback) => Number(process.env[`SOAK_${name}`] || fallback)
const started = Date.now()
const results = []

/** Runs vitest on `files` with FUZZ_RUNS; prints each test with its time, and the summary. */
function fuzz(name, files, runs, timeLimitMs) {
  console.log(`\n── ${name}: ${runs} runs per property${timeLimitMs ? `, at most ${timeLimitMs / 1000} s each` : ""}`)
  const t = Date.now()
  const result = spawnSync("pnpm", ["exec", "vitest", "run", "--reporter=verbose", ...files], {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      FUZZ_RUNS: String(runs),
      ...(timeLimitMs ? { FUZZ_TIME_LIMIT_MS: String(timeLimitMs) } : {}),
    },
  })
  // vitest colours its output whatever the environment says; the colour codes are taken out.
  const output = `${result.stdout}${result.stderr}`.replace(
    new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"),
    "",
  )
  for (const line of output.split("\n")) {
    if (/^\s+[✓×]|Counterexample|Tests\s+\d|AssertionError|Error:/.test(line)) console.log(line)
  }
  console.log(`(${name}: ${Math.round((Date.now() - t) / 1000)} s)`)
  results.push([name, result.status === 0])
}

if (!process.env.SOAK_SKIP_FUZZ) {
  fuzz(
    "codec properties",
    ["packages/core/src/protocol/codec.property.test.ts", "packages/core/src/protocol/codec.roundtrip.test.ts"],
    env("CODEC_RUNS", 100_000),
    0,
  )
  fuzz(
    "fuzzed frames and bodies to a live server",
    ["packages/tests/src/fuzz.websocket.test.ts", "packages/tests/src/fuzz.http.test.ts"],
    env("LIVE_RUNS", 600),
    env("LIVE_TIME_LIMIT_MS", 45_000),
  )
}

const { build } = createRequire(join(tests, "package.json"))("esbuild")
const outdir = join(tests, ".tmp/soak")
for (const name of ["run", "server"]) {
  await bundleForNode(build, { entryPoints: [join(tests, `src/support/soak/${name}.ts`)] }, join(outdir, `${name}.mjs`))
}

const { soak } = await import(pathToFileURL(join(outdir, "run.mjs")).href)
const held = await soak({
  serverBundle: join(outdir, "server.mjs"),
  stormClients: env("STORM_CLIENTS", 1000),
  stormRate: env("STORM_RATE", 200),
  churnCycles: env("CHURN_CYCLES", 2000),
  chaosClients: env("CHAOS_CLIENTS", 60),
  chaosMs: env("CHAOS_MS", 90_000),
  seed: env("SEED", 1),
  phases: (process.env.SOAK_PHASES || "storm,churn,chaos").split(",").map((phase) => phase.trim()),
})
for (const [name, ok] of results) console.log(`${name}: ${ok ? "PASS" : "FAIL"}`)
const ok = held && results.every(([, passed]) => passed)
console.log(`\nsoak ${ok ? "PASS" : "FAIL"} in ${Math.round((Date.now() - started) / 1000)} s`)
process.exit(ok ? 0 : 1)
