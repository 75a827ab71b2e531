// What one relayed HTTP request costs (docs/scaling.md#relayed-requests): a polling GET answered by the
// node that holds the link, sent straight to it, against the same GET sent to another node that relays
// it over the node bus (memoryNodes: JSON through the event loop; Redis adds its round trips on top).
// Both nodes and the client share one process, so the CPU figure is everything the request cost the
// process, client included; the difference between the two rows is the relay's own.
// Usage: `pnpm --filter @switchyard/bench run build:deps && node bench/relay.mjs` (RELAY_N requests per row).
import { Agent, request } from "node:http"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import { createServer, memoryNodes } from "@switchyard/server-node"

const N = Number(process.env.RELAY_N ?? 5000)
const cluster = memoryNodes()
const nodes = []
for (const id of ["a", "b"]) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }), {
    cluster: { nodes: cluster.nodes(id), handOverGraceMs: 0 },
    onError: () => {},
  })
  nodes.push({ server, ...(await server.listen(0, "127.0.0.1")) })
}
const agent = new Agent({ keepAlive: true, maxSockets: 1 })

function send(port, method, query, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path: `/switchyard?${query}`, agent }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk) => (text += chunk))
      res.on("end", () => resolve({ status: res.statusCode, text }))
    })
    req.on("error", reject)
    req.end(body)
  })
}

const [a, b] = nodes
const opened = await send(a.port, "POST", "transport=polling", `[20,1,null,0]`)
const { link } = JSON.parse(opened.text)
await send(a.port, "GET", `transport=polling&link=${link}`)

async function row(name, port) {
  for (let i = 0; i < 2000; i++) await send(port, "GET", `transport=polling&link=${link}`)
  const cpu = process.cpuUsage()
  const times = []
  const start = process.hrtime.bigint()
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint()
    const answer = await send(port, "GET", `transport=polling&link=${link}`)
    if (answer.status !== 200) throw new Error(`${name}: ${answer.status} ${answer.text}`)
    times.push(Number(process.hrtime.bigint() - t) / 1e3)
  }
  const wall = Number(process.hrtime.bigint() - start) / 1e6
  const used = process.cpuUsage(cpu)
  times.sort((x, y) => x - y)
  const p = (q) => times[Math.floor(q * (times.length - 1))].toFixed(0)
  const cpuUs = ((used.user + used.system) / N).toFixed(0)
  console.log(`| ${name} | ${p(0.5)} µs | ${p(0.99)} µs | ${cpuUs} µs | ${((N / wall) * 1000).toFixed(0)} |`)
}

console.log(`Polling GET of a link held by node a, ${N} sequential requests per row, Node ${process.version}`)
console.log("| sent to | p50 latency | p99 latency | CPU per request (whole process) | requests/s |")
console.log("|---|---|---|---|---|")
await row("node a (direct)", a.port)
await row("node b (relayed to a)", b.port)
await row("node a (direct, again)", a.port)
await row("node b (relayed, again)", b.port)
agent.destroy()
await Promise.all(nodes.map((n) => n.server.close()))
