// Child process: one client of one system, driven by the runner over IPC. argv: <adapter file>.
// ← {type:"latency", url, ...sizes} → {type:"latency-result", ...}: sequential calls, one at a time.
// ← {type:"load", url, inflight, warmupMs} → {type:"warm"} after the warm-up; ← "mark" starts the
//   measured window, ← "stop" ends it → {type:"load-result", calls, seconds, cpuUser, cpuSystem, errors}.
import { percentile } from "./stats.mjs"

const file = process.argv[2]
const system = await import(new URL(`../systems/${file}`, import.meta.url).href)
const now = () => process.hrtime.bigint()
const S = "hello world"

/** One call; throws when the echo is not the payload sent, so that errors are never timed as calls. */
async function checkedCall(client, n) {
  const reply = await client.call({ n, s: S })
  if (reply?.n !== n || reply?.s !== S) throw new Error(`bad echo for n=${n}: ${JSON.stringify(reply)}`)
}

async function latency(client, job) {
  let n = 1
  const warmupEnd = now() + BigInt(Math.round(job.warmupMaxMs * 1e6))
  for (let i = 0; i < job.warmup && now() < warmupEnd; i++) await checkedCall(client, n++)
  const samples = new Float64Array(job.calls)
  let count = 0
  const end = now() + BigInt(Math.round(job.maxMs * 1e6))
  while (count < job.calls) {
    const t0 = now()
    await checkedCall(client, n++)
    const t1 = now()
    samples[count++] = Number(t1 - t0) / 1e3
    if (t1 > end) break
  }
  const measured = samples.subarray(0, count).sort()
  let sum = 0
  for (const v of measured) sum += v
  return {
    type: "latency-result",
    calls: count,
    p50: percentile(measured, 0.5),
    p99: percentile(measured, 0.99),
    mean: sum / count,
  }
}

async function load(client, job) {
  let n = 1
  let completed = 0
  let errors = 0
  let firstError
  let running = true
  const lane = async () => {
    while (running) {
      try {
        await checkedCall(client, n++)
        completed++
      } catch (error) {
        errors++
        firstError ??= String(error?.message ?? error)
      }
    }
  }
  const lanes = Array.from({ length: job.inflight }, lane)
  await new Promise((resolve) => setTimeout(resolve, job.warmupMs))
  process.send({ type: "warm" })
  const window = await new Promise((resolve) => {
    let start
    process.on("message", (message) => {
      if (message.type === "mark") start = { completed, errors, t: now(), cpu: process.cpuUsage() }
      if (message.type === "stop") {
        const cpu = process.cpuUsage(start.cpu)
        resolve({
          calls: completed - start.completed,
          errors: errors - start.errors,
          seconds: Number(now() - start.t) / 1e9,
          cpuUser: cpu.user,
          cpuSystem: cpu.system,
        })
      }
    })
  })
  running = false
  void lanes
  return { type: "load-result", ...window, firstError }
}

process.on("disconnect", () => process.exit(0))
process.once("message", async (job) => {
  let client
  try {
    client = await system.connectClient(job.url)
    const result = job.type === "latency" ? await latency(client, job) : await load(client, job)
    process.send(result)
  } catch (error) {
    process.send({ type: "failed", error: String(error?.stack ?? error) })
  }
  // In-flight calls are abandoned on purpose; the process is about to go.
  await Promise.race([client?.close(), new Promise((resolve) => setTimeout(resolve, 500))]).catch(() => {})
  process.exit(0)
})
process.send({ type: "ready" })
