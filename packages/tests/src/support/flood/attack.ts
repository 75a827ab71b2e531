import { readFileSync } from "node:fs"
import { setTimeout as sleep } from "node:timers/promises"
import type { FloodCounts } from "./flooder.ts"
import { firstRpcMs } from "./honest.ts"
import { floodProcess, serverProcess } from "./processes.ts"

/**
 * The full flood of issue 12, item 3, for `scripts/attack-flood.mjs`: a server with the default limits in
 * its own process; HELLOs without a token from 127.0.0.1 over WebSocket and long polling, from two more
 * processes, as fast as `loops` loops each go, for `durationMs`; meanwhile an honest client from another
 * address (127.0.0.2 to 127.0.0.9, WebSocket and long polling in turn) connects and makes one RPC every
 * `honestEveryMs`. Prints the flood's outcomes, the server's RSS (start, peak) and the honest clients'
 * first-RPC times. Resolves true when every honest client got its first RPC within 1 s.
 */
export async function attackFlood(options: {
  readonly durationMs: number
  readonly loops: number
  readonly honestEveryMs: number
}): Promise<boolean> {
  const server = await serverProcess()
  const rss = () => kib(server.pid, "VmRSS")
  const startRss = rss()
  let peakRss = startRss
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rss())
  }, 100)
  // Loading the client's modules and warming the JIT is not what the flood costs.
  await firstRpcMs(server.url, "websocket", "127.0.0.2")
  await firstRpcMs(server.url, "long-polling", "127.0.0.3")
  const started = performance.now()
  const floods = await Promise.all([
    floodProcess(server.url, "websocket", options.loops, options.durationMs),
    floodProcess(server.url, "long-polling", options.loops, options.durationMs),
  ])
  const honest: Array<{ at: number; transport: string; from: string; ms: number | string }> = []
  for (let i = 0; performance.now() - started < options.durationMs - options.honestEveryMs; i++) {
    await sleep(options.honestEveryMs)
    const transport = i % 2 === 0 ? "websocket" : "long-polling"
    const from = `127.0.0.${2 + (i % 8)}`
    const at = (performance.now() - started) / 1000
    try {
      honest.push({ at, transport, from, ms: await firstRpcMs(server.url, transport, from) })
    } catch (error) {
      honest.push({ at, transport, from, ms: `failed: ${(error as Error).message}` })
    }
  }
  const [ws, lp] = (await Promise.all(floods.map((f) => f.done))) as [FloodCounts, FloodCounts]
  const elapsed = (performance.now() - started) / 1000
  const sessions = server.sessions()
  const lag = server.lag()
  clearInterval(sampler)
  peakRss = Math.max(peakRss, rss(), kib(server.pid, "VmHWM"))
  await server.stop()

  const total = (counts: FloodCounts) => Object.values(counts).reduce((a, b) => a + b, 0)
  const refused = (counts: FloodCounts) => total(counts) - (counts.welcomed ?? 0)
  const times = honest.map((h) => h.ms).filter((ms): ms is number => typeof ms === "number")
  const sorted = [...times].sort((a, b) => a - b)
  const under = times.filter((ms) => ms < 1000).length
  const line = (label: string, value: string) => console.log(`${label.padEnd(34)} ${value}`)
  console.log(`\nissue 12, item 3: the session flood, ${elapsed.toFixed(1)} s, ${options.loops} loops per process`)
  for (const [name, counts] of [
    ["WebSocket flood", ws],
    ["long-polling flood", lp],
  ] as const) {
    line(
      `${name}`,
      `${total(counts)} HELLOs (${(total(counts) / elapsed).toFixed(0)}/s): ${counts.welcomed ?? 0} given a session, ` +
        `${refused(counts)} refused ${JSON.stringify(counts)}`,
    )
  }
  line("refused in all", `${refused(ws) + refused(lp)}`)
  line("sessions held at the end", `${sessions}`)
  line("server RSS", `${mib(startRss)} MiB at the start, ${mib(peakRss)} MiB at the peak`)
  line("server event-loop delay", `p99 ${lag.p99} ms, max ${lag.max} ms`)
  line(
    "honest clients' first RPC (ms)",
    `${times.length} of ${honest.length} answered, ${under} under 1 s; min ${fmt(sorted[0])}, ` +
      `median ${fmt(sorted[Math.floor(sorted.length / 2)])}, max ${fmt(sorted[sorted.length - 1])}`,
  )
  for (const h of honest) {
    console.log(
      `  t=${h.at.toFixed(1).padStart(5)} s  ${h.transport.padEnd(12)} from ${h.from.padEnd(10)} ${fmt(h.ms)}`,
    )
  }
  const ok = honest.length > 0 && under === honest.length
  console.log(ok ? "PASS: every honest client got its first RPC within 1 s" : "FAIL")
  return ok
}

/** A field of /proc/<pid>/status, in KiB (0 when it cannot be read). */
function kib(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match?.[1] ? Number(match[1]) : 0
  } catch {
    return 0
  }
}

const mib = (k: number) => (k / 1024).toFixed(0)
const fmt = (ms: number | string | undefined) => (typeof ms === "number" ? ms.toFixed(0) : String(ms))
