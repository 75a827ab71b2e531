// Idle connections: what each costs the server in memory, and how fast they connect. For each system, one
// server process (run with --expose-gc) and one load process that opens BENCH_IDLE_CLIENTS clients, each
// its own connection (and, for Switchyard, its own session), then leaves them idle. The server's RSS and
// V8 heap are read after full garbage collections, before and after, and the difference is divided by the
// number of clients. Usage: `pnpm bench:idle` in bench/ (or `node idle.mjs`); see README.md.
import { mkdirSync } from "node:fs"
import os from "node:os"
import { join } from "node:path"
import { hasTaskset, startChild } from "./lib/children.mjs"
import { commandLine } from "./lib/config.mjs"
import { cell, table } from "./lib/report.mjs"
import { summarize } from "./lib/stats.mjs"

const systems = [
  { id: "ws", file: "ws.mjs" },
  { id: "socketio", file: "socketio.mjs" },
  { id: "switchyard", file: "switchyard.mjs", bound: { rss: 9, heap: 4 } },
  { id: "socketio-polling", file: "socketioPolling.mjs" },
  { id: "switchyard-sse", file: "switchyardSse.mjs", bound: { rss: 12 } },
  { id: "switchyard-long-polling", file: "switchyardLongPolling.mjs", bound: { rss: 12 } },
]

const env = process.env
const positive = (name, fallback) => {
  const raw = env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`)
  return value
}
const clients = positive("BENCH_IDLE_CLIENTS", 5000)
const concurrency = positive("BENCH_IDLE_CONCURRENCY", 50)
const reps = positive("BENCH_REPS", 3)
const settleMs = positive("BENCH_IDLE_SETTLE_MS", 2000)
const snapshots = env.BENCH_IDLE_SNAPSHOTS || undefined
const ids = (env.BENCH_SYSTEMS ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean)
const unknown = ids.filter((id) => !systems.some((s) => s.id === id))
if (unknown.length) throw new Error(`unknown BENCH_SYSTEMS ${unknown.join(", ")}; known: ${systems.map((s) => s.id)}`)
const chosen = ids.length ? systems.filter((s) => ids.includes(s.id)) : systems
const pin = env.BENCH_PIN !== "0" && hasTaskset()
const cores = os.cpus().length
// Server and load process on different cores when there are two.
const cpu = pin ? { server: cores > 1 ? 1 : 0, client: 0 } : {}
/** Clients opened and closed before the baseline, so that what a server allocates once is not counted. */
const WARM_UP = 100
const KB = 1024

console.log(`command: ${commandLine()}`)
console.log(
  `node ${process.version}; ${cores} × ${os.cpus()[0]?.model.trim() ?? "?"}; ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; pinning ${pin ? `server on core ${cpu.server}, clients on core ${cpu.client}` : "off"}`,
)
console.log(
  `${clients} idle clients per system from one load process, at most ${concurrency} connecting at once, after ${WARM_UP} opened and closed; ${reps} repetition(s); memory read ${settleMs} ms after the last connect, after full GCs; 1 KB = 1,024 bytes`,
)
console.log(`load average at start: ${os.loadavg()[0].toFixed(2)}\n`)

async function measure(system, rep) {
  const server = startChild("idleServer.mjs", [system.file, String(clients + WARM_UP + 16)], cpu.server, [
    "--expose-gc",
  ])
  const client = startChild("idleClient.mjs", [system.file], cpu.client)
  try {
    const { url } = await server.next("ready", 20_000)
    await client.next("ready", 20_000)
    client.send({ type: "connect", url, count: WARM_UP, concurrency })
    await client.next("connected", 60_000)
    client.send({ type: "close-all" })
    await client.next("closed", 30_000)
    // Long enough for every server to have let go of the warm-up connections (Switchyard keeps a closed
    // WebSocket for up to 1 s, to cut one whose peer never answers the close).
    await new Promise((resolve) => setTimeout(resolve, 2000))
    server.send({ type: "measure" })
    const before = await server.next("memory", 30_000)
    if (snapshots) await snapshot(server, `${system.id}-${rep}-before.heapsnapshot`)
    client.send({ type: "connect", url, count: clients, concurrency })
    const connected = await client.next("connected", 600_000)
    await new Promise((resolve) => setTimeout(resolve, settleMs))
    server.send({ type: "measure" })
    const after = await server.next("memory", 30_000)
    if (snapshots) await snapshot(server, `${system.id}-${rep}-after.heapsnapshot`)
    client.send({ type: "close-all" })
    await client.next("closed", 60_000)
    return {
      rate: clients / connected.seconds,
      rss: (after.rss - before.rss) / clients / KB,
      heap: (after.heapUsed - before.heapUsed) / clients / KB,
      external: (after.external - before.external) / clients / KB,
    }
  } finally {
    await Promise.all([client.stop(), server.stop()])
  }
}

async function snapshot(server, name) {
  mkdirSync(snapshots, { recursive: true })
  server.send({ type: "snapshot", path: join(snapshots, name) })
  await server.next("snapshot-written", 120_000)
}

const results = Object.fromEntries(chosen.map((s) => [s.id, []]))
for (let rep = 0; rep < reps; rep++) {
  const order = chosen.map((_, i) => chosen[(i + rep) % chosen.length])
  for (const system of order) {
    const tag = `[rep ${rep + 1}/${reps}] ${system.id.padEnd(23)}`
    try {
      const r = await measure(system, rep + 1)
      results[system.id].push(r)
      console.log(
        `${tag} ${Math.round(r.rate)} connects/s, RSS ${r.rss.toFixed(1)} KB, heap ${r.heap.toFixed(1)} KB, external ${r.external.toFixed(1)} KB per connection`,
      )
    } catch (error) {
      results[system.id].push({ failed: true })
      console.log(`${tag} FAILED: ${String(error?.message ?? error).split("\n")[0]}`)
    }
  }
}

const rows = chosen.map((s) => {
  const reps = results[s.id].filter((r) => !r.failed)
  const of = (key) => summarize(reps.map((r) => r[key]))
  return [s.id, cell(of("rss"), 1), cell(of("heap"), 1), cell(of("external"), 1), cell(of("rate"), 0)]
})
console.log(`\nper idle connection, in the server process: median over ${reps} repetition(s), (min–max) across them\n`)
console.log(table(["system", "RSS KB", "V8 heap KB", "external KB", "connects/s"], rows))
const verdicts = chosen
  .filter((s) => s.bound)
  .map((s) => {
    const reps = results[s.id].filter((r) => !r.failed)
    if (!reps.length) return `${s.id}: not measured`
    const rss = summarize(reps.map((r) => r.rss)).median
    const heap = summarize(reps.map((r) => r.heap)).median
    const ok = rss <= s.bound.rss && (s.bound.heap === undefined || heap <= s.bound.heap)
    const target = `≤ ${s.bound.rss} KB RSS${s.bound.heap === undefined ? "" : `, ≤ ${s.bound.heap} KB heap`}`
    return `goal (issue 12): ${s.id} ${target} per idle connection: ${ok ? "MET" : "NOT MET"}`
  })
if (verdicts.length) console.log(`\n${verdicts.join("\n")}`)
console.log(`\nload average at end: ${os.loadavg()[0].toFixed(2)}`)
if (Object.values(results).some((list) => list.some((r) => r.failed))) process.exitCode = 1
