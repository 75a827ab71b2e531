// Child process: one client of one system, driven by the runner over IPC. argv: <adapter file>.
// Sequential round trips, in blocks that the runner interleaves with other systems' blocks:
//   ← {type:"latency-warmup", url, warmup, warmupMaxMs, calls} connects, warms up → {type:"warm"};
//   ← {type:"block", leadIn, calls, maxMs} → {type:"block-done", total}: `leadIn` untimed calls (fewer
//     if they take over `maxMs` / 4, at least one), then up
//     to `calls` more timed calls, one at a time, stopping early once `maxMs` have passed (timings
//     accumulate over blocks, up to `calls` of "latency-warmup" in all);
//   ← {type:"latency-end"} → {type:"latency-result", calls, p50, p99, mean}.
// Pipelined load: ← {type:"load", url, inflight, warmupMs} → {type:"warm"} after the warm-up; ← "mark"
//   starts the measured window, ← "stop" ends it → {type:"load-result", calls, seconds, cpuUser, cpuSystem, errors}.
// ← "exit": closes the client (in-flight calls are abandoned) and exits.
import { serve } from "./child.mjs"
import "./warnings.mjs"
import { percentile } from "./stats.mjs"

const file = process.argv[2]
const system = await import(new URL(`../systems/${file}`, import.meta.url).href)
const now = () => process.hrtime.bigint()
const after = (ms) => now() + BigInt(Math.round(ms * 1e6))
const S = "hello world"

let client
let n = 1
/** Sequential timings in µs, `count` of them so far. */
let samples
let count = 0
/** The pipelined load's counters, and their values when the window opened. */
const load = { running: false, completed: 0, errors: 0, firstError: undefined, start: undefined }

/** One call; throws when the echo is not the payload sent, so that errors are never timed as calls. */
async function checkedCall() {
  const id = n++
  const reply = await client.call({ n: id, s: S })
  if (reply?.n !== id || reply?.s !== S) throw new Error(`bad echo for n=${id}: ${JSON.stringify(reply)}`)
}

const handlers = {
  async "latency-warmup"(job) {
    client = await system.connectClient(job.url)
    const end = after(job.warmupMaxMs)
    for (let i = 0; i < job.warmup && now() < end; i++) await checkedCall()
    samples = new Float64Array(job.calls)
    return { type: "warm" }
  },
  async block(job) {
    // Untimed lead-in: `leadIn` calls, but no longer than a quarter of the block's time bound (at least
    // one call), so that systems with calls of milliseconds (HTTP polling) do not spend most of the
    // phase untimed.
    const leadEnd = after(job.maxMs / 4)
    for (let i = 0; i < job.leadIn; i++) {
      await checkedCall()
      if (now() > leadEnd) break
    }
    const last = Math.min(samples.length, count + job.calls)
    const end = after(job.maxMs)
    while (count < last) {
      const t0 = now()
      await checkedCall()
      const t1 = now()
      samples[count++] = Number(t1 - t0) / 1e3
      if (t1 > end) break
    }
    return { type: "block-done", total: count }
  },
  "latency-end"() {
    const measured = samples.subarray(0, count).sort()
    let sum = 0
    for (const v of measured) sum += v
    const result = { calls: count, p50: percentile(measured, 0.5), p99: percentile(measured, 0.99), mean: sum / count }
    return { type: "latency-result", ...result }
  },
  async load(job) {
    client = await system.connectClient(job.url)
    load.running = true
    const lane = async () => {
      while (load.running) {
        try {
          await checkedCall()
          load.completed++
        } catch (error) {
          load.errors++
          load.firstError ??= String(error?.message ?? error)
        }
      }
    }
    for (let i = 0; i < job.inflight; i++) void lane()
    await new Promise((resolve) => setTimeout(resolve, job.warmupMs))
    return { type: "warm" }
  },
  mark() {
    load.start = { completed: load.completed, errors: load.errors, t: now(), cpu: process.cpuUsage() }
  },
  stop() {
    const { start } = load
    const cpu = process.cpuUsage(start.cpu)
    load.running = false
    return {
      type: "load-result",
      calls: load.completed - start.completed,
      errors: load.errors - start.errors,
      seconds: Number(now() - start.t) / 1e9,
      cpuUser: cpu.user,
      cpuSystem: cpu.system,
      firstError: load.firstError,
    }
  },
  async exit() {
    await Promise.race([client?.close(), new Promise((resolve) => setTimeout(resolve, 500))]).catch(() => {})
    process.exit(0)
  },
}

serve(handlers)
