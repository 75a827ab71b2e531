// Cross-node topic fan-out: two server processes of one system on one redis-server, the subscribers split
// between them (one load process, dealt to the nodes in turn), publishing on the first node only, so half
// of every delivery crosses Redis. Switchyard with @switchyard/redis beside Socket.IO with
// @socket.io/redis-adapter, on the same redis-server, in the same run, taking turns. Deliveries/s over the
// measured window, and the CPU of BOTH server processes per delivery. Usage: `pnpm bench:cluster` in bench/
// (or `node cluster.mjs`); the fan-out variables of README.md apply (BENCH_REPS, BENCH_FANOUT_*, BENCH_QUICK).
import os from "node:os"
import { hasTaskset, startChild } from "./lib/children.mjs"
import { commandLine, readConfig } from "./lib/config.mjs"
import { publishFor as publishWindow } from "./lib/publishFor.mjs"
import { startRedis } from "./lib/redis.mjs"
import { cell, table } from "./lib/report.mjs"
import { summarize } from "./lib/stats.mjs"

const systems = [
  { id: "socketio-redis", file: "socketioRedis.mjs" },
  { id: "switchyard-redis", file: "switchyardRedis.mjs" },
]
const baseline = "socketio-redis"
const config = readConfig()
const pin = config.pin && hasTaskset()
const cores = os.cpus().length
// The two servers on one core, the load process on another (redis-server floats), when there are two.
const cpu = pin ? { server: cores > 1 ? 1 : 0, client: 0 } : {}

const { subscribers, warmupMs, measureMs, burst, window } = config.fanout
console.log(`command: ${commandLine()}`)
console.log(
  `cross-node fan-out: 2 server processes on one redis-server, ${subscribers} subscribers split between them, publishing on the first; ${config.reps} repetition(s), ${warmupMs / 1000} s warm-up, ${measureMs / 1000} s measured; pinning ${pin ? "on" : "off"}`,
)

/** Like run.mjs's measureFanout, with two servers: CPU of both, credit to the publisher, subscribers split. */
async function measure(system, redisUrl) {
  const options = JSON.stringify({ redisUrl })
  const servers = [0, 1].map(() => startChild("fanoutServer.mjs", [system.file, options], cpu.server))
  const [publisher] = servers
  const client = startChild("fanoutClient.mjs", [system.file], cpu.client)
  client.on("credit", (message) => publisher.send(message))
  try {
    const urls = []
    for (const server of servers) urls.push((await server.next("ready", 20_000)).url)
    await client.next("ready", 20_000)
    client.send({ type: "subscribe", url: urls[0], urls, key: "k", count: subscribers, window })
    await client.next("subscribed-all", 60_000)
    // Each node counts its own share.
    for (const [i, server] of servers.entries()) {
      const share = Math.floor(subscribers / 2) + (i < subscribers % 2 ? 1 : 0)
      server.send({ type: "await-subscribers", count: share, timeoutMs: 10_000 })
      await server.next("subscribed", 15_000)
    }
    const publishFor = (ms) => publishWindow(publisher, client, { burst, window, subscribers }, ms)
    const warm = await publishFor(warmupMs)
    if (warm.errors || warm.failedSubscribers) return warm
    client.send({ type: "mark" })
    await client.next("marked", 10_000)
    for (const server of servers) server.send({ type: "cpu-start" })
    for (const server of servers) await server.next("cpu-started", 10_000)
    const drained = await publishFor(measureMs)
    for (const server of servers) server.send({ type: "cpu-stop" })
    const cpus = []
    for (const server of servers) cpus.push(await server.next("cpu", 10_000))
    const expected = cpus[0].published * subscribers
    if (expected !== drained.deliveries && !drained.failedSubscribers) {
      drained.errors ||= 1
      drained.firstError ??= `published ${cpus[0].published} × ${subscribers}, subscribers counted ${drained.deliveries}`
    }
    return { ...drained, serverCpu: cpus.reduce((sum, c) => sum + c.user + c.system, 0) }
  } finally {
    await Promise.all([client.stop(), ...servers.map((s) => s.stop())])
  }
}

const redis = await startRedis()
const results = Object.fromEntries(systems.map((s) => [s.id, []]))
let failed = false
try {
  for (let rep = 0; rep < config.reps; rep++) {
    const order = systems.map((_, i) => systems[(i + rep) % systems.length])
    for (const system of order) {
      const entry = { rate: Number.NaN, cpu: Number.NaN, clientCpu: Number.NaN }
      results[system.id][rep] = entry
      let line = `[rep ${rep + 1}/${config.reps}] ${system.id.padEnd(17)}`
      try {
        const run = await measure(system, redis.url)
        if (run.errors || run.failedSubscribers) {
          entry.failed = true
          line += ` FAILED: ${run.failedSubscribers} subscriber(s) incomplete, ${run.errors} wrong; ${run.firstError ?? run.problems?.[0]}`
        } else {
          Object.assign(entry, {
            rate: run.deliveries / run.seconds,
            cpu: run.serverCpu / run.deliveries,
            clientCpu: (run.cpuUser + run.cpuSystem) / run.deliveries,
            messages: run.deliveries / subscribers,
          })
          line += ` ${Math.round(entry.rate)} deliveries/s, servers ${entry.cpu.toFixed(2)} µs CPU/delivery (${entry.messages} messages measured)`
        }
      } catch (error) {
        entry.failed = true
        line += ` FAILED: ${String(error.message).split("\n")[0]}`
      }
      failed ||= entry.failed === true
      console.log(line)
    }
  }
} finally {
  await redis.stop()
}

const ratio = (id, key) => summarize(results[id].map((r, i) => r[key] / results[baseline][i]?.[key]))
const rows = systems.map(({ id }) => {
  const reps = results[id]
  const s = (key) => summarize(reps.map((r) => r[key]))
  return [
    id,
    cell(s("rate"), 0),
    cell(ratio(id, "rate"), 2, "×"),
    cell(s("cpu"), 2),
    cell(ratio(id, "cpu"), 2, "×"),
    cell(s("clientCpu"), 2),
    String(reps.filter((r) => r.failed).length),
  ]
})
console.log(
  `\ncross-node fan-out to ${subscribers} subscribers on 2 nodes: median over ${config.reps} repetition(s), (min–max); ×${baseline} = this system's value / ${baseline}'s in the same repetition\n`,
)
console.log(
  table(
    [
      "system",
      "deliveries/s",
      `deliveries/s ×${baseline}`,
      "servers' CPU µs/delivery",
      `CPU ×${baseline}`,
      "load-gen CPU µs/delivery",
      "failed reps",
    ],
    rows,
  ),
)
if (failed) process.exitCode = 1
