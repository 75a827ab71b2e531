import { createInterface } from "node:readline"
import { startCluster } from "./cluster.ts"
import { type LocalRedis, startLocalRedis } from "./localRedis.ts"

/**
 * `pnpm --filter @switchyard/example-redis start`: two nodes on one Redis (`REDIS_URL`, or a throwaway
 * redis-server) behind the round-robin balancer on `PORT` (default 3000), serving the page. Type `stop a`
 * (or press the page's button) to stop node a and watch its clients move to node b.
 */
export async function main(root: string): Promise<void> {
  const given = process.env.REDIS_URL
  const local: LocalRedis | undefined = given ? undefined : await startLocalRedis()
  const redisUrl = given || (local as LocalRedis).url
  const cluster = await startCluster({
    redisUrl,
    port: process.env.PORT === undefined ? 3000 : Number(process.env.PORT),
    root,
  })
  console.log(`Redis: ${redisUrl}${local ? " (a throwaway redis-server)" : ""}`)
  for (const node of cluster.nodes) console.log(`node ${node.name} on port ${node.port}`)
  console.log(`Switchyard board, ${cluster.nodes.length} nodes behind a round-robin balancer: open ${cluster.pageUrl}`)
  console.log(`Terminal members: pnpm --filter @switchyard/example-redis client <name> ${cluster.url}`)
  console.log("Type `stop a` here to stop node a; Ctrl+C stops everything.")

  let stopping = false
  const shutdown = async () => {
    if (stopping) return
    stopping = true
    // A node hands its sessions over through Redis as it closes; give that 5 s, not forever.
    await Promise.race([cluster.close(), new Promise((resolve) => setTimeout(resolve, 5000))])
    await local?.stop()
    process.exit(0)
  }
  process.once("SIGINT", shutdown)
  process.once("SIGTERM", shutdown)
  for await (const line of createInterface({ input: process.stdin })) {
    const name = /^stop (\S+)$/.exec(line.trim())?.[1]
    const node = cluster.nodes.find((n) => n.name === name)
    if (!node) {
      console.log(`nodes: ${cluster.nodes.map((n) => n.name).join(", ")}; type \`stop <name>\``)
      continue
    }
    await node.close()
    console.log(`node ${node.name} stopped; its sessions moved to the other nodes`)
  }
}
