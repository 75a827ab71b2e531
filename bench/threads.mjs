// Where a server process spends its CPU under the pipelined load, by thread name: `node threads.mjs
// <adapter file in systems/> [seconds]`. Starts the adapter's server (pinned to core 1) and a load
// generator (core 0) with 100 calls in flight, as run.mjs's pipelined phase does, then reads each server
// thread's user + system time from /proc/<pid>/task/*/stat at the start and end of the window (Linux
// only). Threads of one name are summed: Node's own are all "node" (main thread, libuv and V8 workers);
// node-datachannel's are "RTC worker" (libdatachannel: SCTP, DTLS) and "juice poll" (libjuice: UDP).
import { readdirSync, readFileSync } from "node:fs"
import { startChild } from "./lib/children.mjs"

const [file, seconds = "3"] = process.argv.slice(2)
if (!file) throw new Error("usage: node threads.mjs <adapter file, e.g. switchyardWebrtc.mjs> [seconds]")

/** CPU ticks (user + system) of each thread of `pid`, by thread id, with the thread's name. */
function threads(pid) {
  return new Map(
    readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return [tid, { name, ticks: Number(fields[11]) + Number(fields[12]) }]
    }),
  )
}

const server = startChild("serverProcess.mjs", [file], 1)
const client = startChild("clientProcess.mjs", [file], 0)
try {
  const { url } = await server.next("ready", 20_000)
  await client.next("ready", 20_000)
  client.send({ type: "load", url, inflight: 100, warmupMs: 1000 })
  await client.next("warm", 61_000)
  client.send({ type: "mark" })
  const before = threads(server.pid)
  await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000))
  const after = threads(server.pid)
  client.send({ type: "stop" })
  const { calls, seconds: measured } = await client.next("load-result", 10_000)
  const byName = new Map()
  for (const [tid, { name, ticks }] of after) {
    byName.set(name, (byName.get(name) ?? 0) + ticks - (before.get(tid)?.ticks ?? 0))
  }
  const total = [...byName.values()].reduce((a, b) => a + b, 0)
  // Clock ticks are 10 ms on Linux (USER_HZ 100).
  const shares = [...byName].filter(([, t]) => t > 0).map(([name, t]) => `${name} ${Math.round((100 * t) / total)} %`)
  console.log(
    `${file}: ${Math.round(calls / measured)} calls/s, server ${((total * 10_000) / calls).toFixed(1)} µs CPU/call; ${shares.join(", ")}`,
  )
} finally {
  await Promise.all([client.stop(), server.stop()])
}
