// Runs every system's three measurements in one process tree and prints the comparison tables.
// See README.md for the method. Usage: `pnpm bench` (builds the Switchyard packages first),
// `BENCH_QUICK=1 pnpm bench` for a ~20 s smoke run; sizes are BENCH_* variables (lib/config.mjs).
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import { hasTaskset, startChild } from "./lib/children.mjs"
import { commandLine, readConfig } from "./lib/config.mjs"
import { publishFor as publishWindow } from "./lib/publishFor.mjs"
import { renderComparisons, renderGoals, renderTables } from "./lib/report.mjs"

const config = readConfig()
const cores = os.cpus().length
const pin = config.pin && hasTaskset()
// Sequential round trips: every system's server and client on core 0. Pipelined load: server and load
// generator on different cores when there are two, so that the server's CPU time is its own work only.
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
  `versions: ws ${versionOf("ws")}, socket.io ${versionOf("socket.io")} / socket.io-client ${versionOf("socket.io-client")}, @trpc/server ${versionOf("@trpc/server")} / @trpc/client ${versionOf("@trpc/client")}, effect ${versionOf("effect")}, node-datachannel ${versionOf("node-datachannel")}, switchyard tree ${treeRevision()}`,
  pin
    ? `pinning: taskset; sequential: server+client on core ${latencyCpu.server}; pipelined and fan-out: server on core ${loadCpu.server}, load generator on core ${loadCpu.client}`
    : `pinning: OFF (${config.pin ? "taskset not found; install util-linux" : "BENCH_PIN=0"}): processes float between cores, expect more noise`,
  `sizes: ${config.reps} repetition(s); sequential ${config.latency.warmup} warm-up calls (≤ ${config.latency.warmupMaxMs / 1000} s) then ${config.latency.calls} timed (≤ ${config.latency.maxMs / 1000} s), interleaved across systems in blocks of ${config.latency.block} (after ${config.latency.blockLeadIn} untimed); pipelined ${config.load.inflight} in flight, ${config.load.warmupMs / 1000} s warm-up, ${config.load.measureMs / 1000} s measured`,
  `fan-out: ${config.fanout.subscribers} subscribers in one load process, one server publishing in bursts of ${config.fanout.burst} per setImmediate turn, at most ${config.fanout.window} messages ahead of the slowest subscriber; ${config.fanout.warmupMs / 1000} s warm-up, ${config.fanout.measureMs / 1000} s measured (systems: ${config.systems
    .filter((s) => s.fanout)
    .map((s) => s.id)
    .join(", ")})`,
  `payload: {"n":<counter>,"s":"hello world"}; every reply is checked against what was sent, every subscriber's messages against 1, 2, 3, …`,
]
console.log(facts.join("\n"))
console.log(`load average at start: ${load1()}\n`)

/**
 * Sequential round trips of all `systems` at once, so that they all see the same drift of the machine:
 * every server and client is started (each its own process, all pinned to core 0) and warmed up, then
 * the runner hands out blocks of calls, one system at a time (the others sit idle), cycling through the
 * systems in an order rotated by one each cycle, until each has had its share. Returns one
 * `{ result }` or `{ error }` per system; a system that fails is left out of the remaining blocks.
 */
/** How long the parts of the last sequential phase took, for the log. */
const timing = { sequential: "" }

async function measureLatencies(systems) {
  const { warmup, warmupMaxMs, calls, block, blockLeadIn, maxMs } = config.latency
  const cycles = Math.ceil(calls / block)
  // A system whose calls are slow (tRPC) stops each block at its share of the time bound instead.
  const blockMaxMs = maxMs / cycles
  const runs = systems.map((system) => ({
    server: startChild("serverProcess.mjs", [system.file], latencyCpu.server),
    client: startChild("clientProcess.mjs", [system.file], latencyCpu.client),
  }))
  const step = async (run, message, reply, timeoutMs) => {
    if (run.error) return
    try {
      run.client.send(message)
      return await run.client.next(reply, timeoutMs)
    } catch (error) {
      run.error = error
    }
  }
  try {
    // Ten processes start on one core: allow them time.
    const ready = async (run) => {
      try {
        run.url = (await run.server.next("ready", 60_000)).url
        await run.client.next("ready", 60_000)
      } catch (error) {
        run.error = error
      }
    }
    const t0 = Date.now()
    await Promise.all(runs.map(ready))
    const t1 = Date.now()
    for (const run of runs) {
      const message = { type: "latency-warmup", url: run.url, warmup, warmupMaxMs, calls }
      // Connecting is part of this step: a WebRTC client may need several tries (lib/webrtc.mjs).
      await step(run, message, "warm", warmupMaxMs + 60_000)
    }
    const t2 = Date.now()
    for (let cycle = 0; cycle < cycles; cycle++) {
      for (let i = 0; i < runs.length; i++) {
        const run = runs[(cycle + i) % runs.length]
        const message = { type: "block", leadIn: blockLeadIn, calls: block, maxMs: blockMaxMs }
        await step(run, message, "block-done", blockMaxMs + 30_000)
      }
    }
    const seconds = (ms) => `${(ms / 1000).toFixed(0)} s`
    timing.sequential = `start ${seconds(t1 - t0)}, warm-up ${seconds(t2 - t1)}, blocks ${seconds(Date.now() - t2)}`
    for (const run of runs) run.result = await step(run, { type: "latency-end" }, "latency-result", 10_000)
    return runs.map(({ result, error }) => ({ result, error }))
  } finally {
    await Promise.all(runs.flatMap((run) => [run.client.stop(), run.server.stop()]))
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
    await client.next("warm", config.load.warmupMs + 60_000)
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

/**
 * Topic fan-out: one server process publishing to `subscribers` subscribers, all in one load process on
 * the other core. Warm-up: publish for `warmupMs`, pause, wait until every subscriber has everything.
 * Measured: from that quiet point, publish for `measureMs`, pause, and wait until every subscriber has
 * every message again; the window ends when the last one arrives. Both windows (server CPU, load
 * process count and clock) thus cover the same deliveries: every message published in it, × subscribers.
 * Every subscriber must have every message, once and in order.
 */
async function measureFanout(system) {
  const { subscribers, warmupMs, measureMs, burst, window } = config.fanout
  const server = startChild("fanoutServer.mjs", [system.file], loadCpu.server)
  const client = startChild("fanoutClient.mjs", [system.file], loadCpu.client)
  // Flow control: the load process says how far the slowest subscriber has got; the publisher keeps
  // at most `window` messages ahead of it.
  client.on("credit", (message) => server.send(message))
  try {
    const { url } = await server.next("ready", 20_000)
    await client.next("ready", 20_000)
    client.send({ type: "subscribe", url, key: "k", count: subscribers, window })
    await client.next("subscribed-all", 60_000)
    server.send({ type: "await-subscribers", count: subscribers, timeoutMs: 10_000 })
    await server.next("subscribed", 15_000)
    const publishFor = (ms) => publishWindow(server, client, { burst, window, subscribers }, ms)
    const warm = await publishFor(warmupMs)
    if (warm.errors || warm.failedSubscribers) return warm
    client.send({ type: "mark" })
    await client.next("marked", 10_000)
    server.send({ type: "cpu-start" })
    await server.next("cpu-started", 10_000)
    const drained = await publishFor(measureMs)
    server.send({ type: "cpu-stop" })
    const cpu = await server.next("cpu", 10_000)
    const serverDeliveries = cpu.published * cpu.subscribers
    if (serverDeliveries !== drained.deliveries && !drained.failedSubscribers) {
      drained.errors ||= 1
      drained.firstError ??= `server made ${serverDeliveries} deliveries, subscribers counted ${drained.deliveries}`
    }
    return { ...drained, serverCpu: cpu.user + cpu.system }
  } finally {
    await Promise.all([client.stop(), server.stop()])
  }
}

const results = Object.fromEntries(config.systems.map((s) => [s.id, []]))
const started = Date.now()
for (let rep = 0; rep < config.reps; rep++) {
  // Rotate the order so that no system is always first (cold machine) or last (warm, throttled).
  const order = config.systems.map((_, i) => config.systems[(i + rep) % config.systems.length])
  const entries = order.map(() => ({
    p50: Number.NaN,
    p99: Number.NaN,
    cpu: Number.NaN,
    clientCpu: Number.NaN,
    rate: Number.NaN,
    fanoutRate: Number.NaN,
    fanoutCpu: Number.NaN,
    fanoutClientCpu: Number.NaN,
    errors: 0,
  }))
  const tag = (system) => `[rep ${rep + 1}/${config.reps}] ${system.id.padEnd(23)}`
  const phase = { at: Date.now() }
  const lap = (name) => {
    const t = Date.now()
    console.log(`[rep ${rep + 1}/${config.reps}] ${name} phase: ${((t - phase.at) / 1000).toFixed(0)} s`)
    phase.at = t
  }
  // Every sequential process is gone before the first pipelined one starts.
  const latencies = await measureLatencies(order).catch((error) => order.map(() => ({ error })))
  lap(`sequential (${timing.sequential})`)
  for (const [i, { result: lat, error }] of latencies.entries()) {
    if (error) {
      entries[i].failed = true
      console.log(`${tag(order[i])} sequential FAILED: ${error.message.split("\n")[0]}`)
      continue
    }
    Object.assign(entries[i], { p50: lat.p50, p99: lat.p99, latencyCalls: lat.calls })
    console.log(`${tag(order[i])} p50 ${lat.p50.toFixed(1)} µs, p99 ${lat.p99.toFixed(1)} µs (${lat.calls} calls)`)
  }
  for (const [i, system] of order.entries()) {
    const entry = entries[i]
    let line = tag(system)
    try {
      const run = await measureLoad(system)
      Object.assign(entry, {
        cpu: run.calls ? run.serverCpu / run.calls : Number.NaN,
        clientCpu: run.calls ? (run.cpuUser + run.cpuSystem) / run.calls : Number.NaN,
        rate: run.calls / run.seconds,
        loadCalls: run.calls,
        errors: run.errors,
      })
      line += ` server ${entry.cpu.toFixed(2)} µs CPU/call at ${Math.round(entry.rate)} calls/s`
      if (run.errors) line += ` | ${run.errors} errors, first: ${run.firstError}`
    } catch (error) {
      entry.failed = true
      line += ` pipelined FAILED: ${error.message.split("\n")[0]}`
    }
    console.log(line)
  }
  lap("pipelined")
  for (const [i, system] of order.entries()) {
    if (!system.fanout) continue
    const entry = entries[i]
    let line = `${tag(system)} fan-out`
    try {
      const run = await measureFanout(system)
      Object.assign(entry, {
        fanoutRate: run.deliveries / run.seconds,
        fanoutCpu: run.deliveries ? run.serverCpu / run.deliveries : Number.NaN,
        fanoutClientCpu: run.deliveries ? (run.cpuUser + run.cpuSystem) / run.deliveries : Number.NaN,
        fanoutMessages: run.deliveries / config.fanout.subscribers,
      })
      line += ` ${Math.round(entry.fanoutRate)} deliveries/s, server ${entry.fanoutCpu.toFixed(2)} µs CPU/delivery; ${run.total} messages in all × ${config.fanout.subscribers} subscribers, ${run.deliveries} deliveries measured in ${run.seconds?.toFixed(2)} s`
      if (run.errors || run.failedSubscribers) {
        entry.fanoutFailed = true
        line += ` | FAILED: ${run.failedSubscribers} subscriber(s) incomplete, ${run.errors} out-of-order or wrong; ${run.firstError ?? run.problems[0]}`
      }
    } catch (error) {
      entry.fanoutFailed = true
      line += ` FAILED: ${error.message.split("\n")[0]}`
    }
    if (entry.fanoutFailed)
      Object.assign(entry, { fanoutRate: Number.NaN, fanoutCpu: Number.NaN, fanoutClientCpu: Number.NaN })
    console.log(line)
  }
  lap("fan-out")
  for (const [i, system] of order.entries()) results[system.id].push(entries[i])
}

const { main, extra, fanout, summary } = renderTables(config.systems, results)
console.log(
  `\nmedian over ${config.reps} repetition(s), (min–max) across them; ×ws = this system's value / raw ws's in the same repetition\n`,
)
console.log(main)
console.log(`\n${extra}`)
if (fanout) {
  console.log(
    `\ntopic fan-out to ${config.fanout.subscribers} subscribers: a delivery is one message received by one subscriber; deliveries/s over the measured window; ×ws as above\n`,
  )
  console.log(fanout)
}
const comparisonLines = renderComparisons(results)
if (comparisonLines) console.log(`\n${comparisonLines}`)
console.log(`\n${renderGoals(summary, results)}`)
console.log(`\nload average at end: ${load1()}; wall time ${((Date.now() - started) / 1000).toFixed(0)} s`)
if (config.json) {
  writeFileSync(config.json, `${JSON.stringify({ facts, config, results, summary }, null, 2)}\n`)
  console.log(`raw results written to ${config.json}`)
}
if (Object.values(results).some((reps) => reps.some((r) => r.failed || r.errors || r.fanoutFailed))) {
  process.exitCode = 1
}
