// Starts the chat on two nodes: `pnpm demo:cluster` from the repository root. It starts a redis-server of
// its own (a free loopback port, no persistence), two chat nodes in this process (each its own HTTP server
// and Switchyard server) and, in front of them, the round-robin proxy of the many-node tests, which deals
// every request and every WebSocket to the next node in turn, with no affinity. Open the printed URL in
// two windows: each request of a page may reach either node. Each node gets `broker: redisBroker({ url })`
// from @switchyard/redis, so the two share topics, sessions and presence: a message said on one node
// reaches the room on both, who is online lists the members of both nodes, and a page whose session moves
// to the other node stays listed, with no "left" and "joined" lines.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { importBundled } from "./bundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const support = join(root, "../../packages/tests/src/support")

const { startChatServer, RedisServer, RoundRobinProxy, redisBroker } = await importBundled({
  stdin: {
    resolveDir: root,
    loader: "ts",
    sourcefile: "cluster-entry.ts",
    contents: `
      export { startChatServer } from "./src/server.ts"
      export { RedisServer } from ${JSON.stringify(join(support, "redisServer.ts"))}
      export { RoundRobinProxy } from ${JSON.stringify(join(support, "cluster/roundRobin.ts"))}
      export { redisBroker } from "@switchyard/redis"
    `,
  },
})

const redis = await RedisServer.start()
const nodes = []
for (let i = 0; i < 2; i++)
  nodes.push(
    await startChatServer({ root, host: "127.0.0.1", switchyard: { broker: redisBroker({ url: redis.url }) } }),
  )
const proxy = await RoundRobinProxy.start(nodes.map((node) => node.port))
console.log(`redis-server on ${redis.url}; chat nodes on ${nodes.map((n) => n.port).join(" and ")}`)
console.log("each node has broker: redisBroker({ url }) (@switchyard/redis)")
console.log(`Switchyard chat, 2 nodes behind a round-robin proxy: open ${proxy.url}/`)

let stopping = false
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    if (stopping) return
    stopping = true
    await proxy[Symbol.asyncDispose]()
    await Promise.all(nodes.map((node) => node.close()))
    await redis[Symbol.asyncDispose]()
    process.exit(0)
  })
}
