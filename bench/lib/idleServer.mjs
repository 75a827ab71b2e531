// Child process (run with --expose-gc): one system's server, for the idle-memory run. argv: <adapter file>
// <per-address connection bound>. IPC: → {type:"ready", url}; ← "measure" → {type:"memory", rss,
// heapUsed, external, arrayBuffers} after full garbage collections; ← {type:"snapshot", path} →
// "snapshot-written" (a V8 heap snapshot, BENCH_IDLE_SNAPSHOTS); ← "exit".
import { writeHeapSnapshot } from "node:v8"
import { serve } from "./child.mjs"
import "./warnings.mjs"

if (typeof globalThis.gc !== "function") throw new Error("idleServer.mjs needs node --expose-gc")
const [file, bound] = process.argv.slice(2)
const system = await import(new URL(`../systems/${file}`, import.meta.url).href)
// Every client connects from 127.0.0.1: Switchyard's per-address bounds (connections, sessions, and the
// rate of new sessions) are raised to the run's size. The other systems have no such bounds.
const server = await system.startServer({
  limits: {
    maxConnectionsPerIp: Number(bound),
    maxSessionsPerIp: Number(bound),
    newSessionsPerSecondPerIp: Number.POSITIVE_INFINITY,
    newSessionBurstPerIp: Number(bound),
  },
})

/** Collects until the heap stops shrinking (weak references and finalizers take more than one pass). */
async function collect() {
  let last = Number.POSITIVE_INFINITY
  for (let i = 0; i < 10; i++) {
    globalThis.gc()
    await new Promise((resolve) => setTimeout(resolve, 20))
    const used = process.memoryUsage().heapUsed
    if (used >= last - 1024) return
    last = used
  }
}

serve(
  {
    async measure() {
      await collect()
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
      return { type: "memory", rss, heapUsed, external, arrayBuffers }
    },
    async snapshot({ path }) {
      await collect()
      writeHeapSnapshot(path)
      return { type: "snapshot-written" }
    },
    async exit() {
      // A server that does not close promptly is not what is being measured.
      await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 2000))])
      process.exit(0)
    },
  },
  { url: server.url },
)
