// Runs every system's two measurements in one process tree and prints the comparison table.
// See README.md for the method. Usage: `pnpm bench` (builds the Switchyard packages first),
// `BENCH_QUICK=1 pnpm bench` for a ~20 s smoke run; sizes are BENCH_* variables (lib/config.mjs).
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import { hasTaskset, startChild } from "./lib/children.mjs"
import { commandLine, readConfig } from "./lib/config.mjs"
import { renderTables } from "./lib/report.mjs"

const config = readConfig()
const cores = os.cpus().length
const pin = config.pin && hasTaskset()
// Sequential round trips: both processes on core 0. Pipelined load: server and load generator on
// different cores when there are two, so that the server's CPU time is its own work only.
const latencyCpu = pin ? { server: 0, client: 0 } : {}
const loadCpu = pin ? { server: cores > 1 ? 1 : 0, client: 0 } : {}

function versionOf(name) {
  try {
    return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version
  } catch {
    return "?"
  }
}

function treeRevision() {
  try {
    const rev = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "../packages"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      cwd: new URL(".", import.meta.url),
    }).trim()
    return dirty ? `${rev} + uncommitted changes in packages/` : rev
  } catch {
    return "?"
  }
}

const load1 = () => os.loadavg()[0].toFixed(2)
const facts = [
  `command: ${commandLine()}`,
  `node ${process.version} on ${os.platform()} ${os.release()} ${os.arch()}; ${cores} × ${os.cpus()[0]?.model.trim() ?? "?"}; ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
  `versions: ws ${versionOf("ws")}, socket.io ${versionOf("socket.io")} / socket.io-client ${versionOf("socket.io-client")}, @trpc/server ${versionOf("@trpc/server")} / @trpc/client ${versionOf("@trpc/client")}, effect ${versionOf("effect")}, switchyard tree ${treeRevision()}`,
  pin
    ? `pinning: taskset; sequential: server+client on core ${latencyCpu.server}; pipelined: server on core ${loadCpu.server}, load generator on core ${loadCpu.client}`
    : `pinning: OFF (${config.pin ? "taskset not found; install util-linux" : "BENCH_PIN=0"}): processes float between cores, expect more noise`,
  `sizes: ${config.reps} repetition(s); sequential ${config.latency.warmup} warm-up calls (≤ ${config.latency.warmupMaxMs / 1000} s) then ${config.latency.calls} timed (≤ ${config.latency.maxMs / 1000} s); pipelined ${config.load.inflight} in flight, ${config.load.warmupMs / 1000} s warm-up, ${config.load.measureMs / 1000} s measured`,
  `payload: {"n":<counter>,"s":"hello world"}; every reply is checked against what was sent`,
]
console.log(facts.join("\n"))
console.log(`load average at start: ${load1()}\n`)

/** Sequential round trips: one server, one client, both pinned to the same core. */
async function measureLatency(system) {
  const server = startChild("serverProcess.mjs", [system.file], latencyCpu.server)
  const client = startChild("clientProcess.mjs", [system.file], latencyCpu.client)
  try {
    const { url } = await server.next("ready", 20_000)
    await client.next("ready", 20_000)
    client.send({ type: "latency", url, ...config.latency })
    const timeout = config.latency.warmupMaxMs + config.latency.maxMs + 30_000
    return await client.next("latency-result", timeout)
  } finally {
    await Promise.all([client.stop(), server.stop()])
  }
}

/** Pipelined load: the server's own CPU time over the measured window, divided by calls completed. */
async function measureLoad(system) {
  const server = startChild("serverProcess.mjs", [system.file], loadCpu.server)
  const client = startChild("clientProcess.mjs", [system.file], loadCpu.client)
  try {
    const { url } = await server.next("ready", 20_000)
    await client.next("ready", 20_000)
    client.send({ type: "load", url, inflight: config.load.inflight, warmupMs: config.load.warmupMs })
    await client.next("warm", config.load.warmupMs + 30_000)
    // Both windows open (and later close) on one IPC round of this process: the skew between them
    // is IPC latency, tens of µs against a window of seconds.
    server.send({ type: "cpu-start" })
    client.send({ type: "mark" })
    await server.next("cpu-started", 10_000)
    await new Promise((resolve) => setTimeout(resolve, config.load.measureMs))
    server.send({ type: "cpu-stop" })
    client.send({ type: "stop" })
    const [cpu, result] = await Promise.all([server.next("cpu", 10_000), client.next("load-result", 10_000)])
    return { ...result, serverCpu: cpu.user + cpu.system }
  } finally {
    await Promise.all([client.stop(), server.stop()])
  }
}

const results = Object.fromEntries(config.systems.map((s) => [s.id, []]))
const started = Date.now()
for (let rep = 0; rep < config.reps; rep++) {
  // Rotate the order so that no system is always first (cold machine) or last (warm, throttled).
  const order = config.systems.map((_, i) => config.systems[(i + rep) % config.systems.length])
  for (const system of order) {
    const entry = {
      p50: Number.NaN,
      p99: Number.NaN,
      cpu: Number.NaN,
      clientCpu: Number.NaN,
      rate: Number.NaN,
      errors: 0,
    }
    let line = `[rep ${rep + 1}/${config.reps}] ${system.id.padEnd(15)}`
    try {
      const lat = await measureLatency(system)
      Object.assign(entry, { p50: lat.p50, p99: lat.p99, latencyCalls: lat.calls })
      line += ` p50 ${lat.p50.toFixed(1)} µs, p99 ${lat.p99.toFixed(1)} µs (${lat.calls} calls)`
      const run = await measureLoad(system)
      Object.assign(entry, {
        cpu: run.calls ? run.serverCpu / run.calls : Number.NaN,
        clientCpu: run.calls ? (run.cpuUser + run.cpuSystem) / run.calls : Number.NaN,
        rate: run.calls / run.seconds,
        loadCalls: run.calls,
        errors: run.errors,
      })
      line += ` | server ${entry.cpu.toFixed(2)} µs CPU/call at ${Math.round(entry.rate)} calls/s`
      if (run.errors) line += ` | ${run.errors} errors, first: ${run.firstError}`
    } catch (error) {
      entry.failed = true
      line += ` FAILED: ${error.message.split("\n")[0]}`
    }
    results[system.id].push(entry)
    console.log(line)
  }
}

const { main, extra, summary } = renderTables(config.systems, results)
console.log(
  `\nmedian over ${config.reps} repetition(s), (min–max) across them; ×ws = this system's median / raw ws's median\n`,
)
console.log(main)
console.log(`\n${extra}`)
console.log(`\nload average at end: ${load1()}; wall time ${((Date.now() - started) / 1000).toFixed(0)} s`)
if (config.json) {
  writeFileSync(config.json, `${JSON.stringify({ facts, config, results, summary }, null, 2)}\n`)
  console.log(`raw results written to ${config.json}`)
}
if (Object.values(results).some((reps) => reps.some((r) => r.failed || r.errors))) process.exitCode = 1
