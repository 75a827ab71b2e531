// Child process: many idle clients of one system, for the idle-memory run. argv: <adapter file>. IPC:
//   ← {type:"connect", url, count, concurrency} → {type:"connected", seconds, cpuUser, cpuSystem}: opens
//     `count` clients (the adapter's connectClient: connected and ready for a call), at most `concurrency`
//     connecting at once; `seconds` from the first attempt to the last connected; fails if any fails;
//   ← "close-all" → "closed": closes every client;
//   ← "exit".
import { serve } from "./child.mjs"
import "./warnings.mjs"

const file = process.argv[2]
const system = await import(new URL(`../systems/${file}`, import.meta.url).href)
let clients = []

serve({
  async connect({ url, count, concurrency }) {
    const opened = []
    let next = 0
    const started = process.hrtime.bigint()
    const cpu = process.cpuUsage()
    const worker = async () => {
      while (next < count) {
        next++
        opened.push(await system.connectClient(url))
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
    } finally {
      clients.push(...opened)
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const { user, system: sys } = process.cpuUsage(cpu)
    return { type: "connected", seconds, cpuUser: user, cpuSystem: sys }
  },
  async "close-all"() {
    const closing = clients
    clients = []
    await Promise.all(closing.map((client) => client.close().catch(() => undefined)))
    return { type: "closed" }
  },
  async exit() {
    process.exit(0)
  },
})
