import { fileURLToPath } from "node:url"
import { buildAssets } from "./assets.ts"
import { type Balancer, startBalancer } from "./balancer.ts"
import { type BoardNode, startNode } from "./node.ts"

export interface ClusterOptions {
  /** The Redis the nodes share. */
  readonly redisUrl: string
  /** The nodes' names; default `["a", "b"]`. */
  readonly names?: readonly string[]
  /** The balancer's port; default 0, a free one. */
  readonly port?: number
  /** The example's folder (holds `index.html` and `src/page.ts`); default: the folder above this file. */
  readonly root?: string
}

/** Nodes on one Redis behind the round-robin balancer. */
export interface Cluster {
  /** Where clients connect: the balancer's `/switchyard`. */
  readonly url: string
  /** The page, through the balancer: `http://127.0.0.1:<port>/`. */
  readonly pageUrl: string
  readonly nodes: readonly BoardNode[]
  readonly balancer: Balancer
  close(): Promise<void>
}

/**
 * Starts the board on several nodes sharing one Redis, and the balancer in front of them.
 *
 * @example
 * const cluster = await startCluster({ redisUrl: "redis://127.0.0.1:6379" })
 * console.log(cluster.url) // http://127.0.0.1:<port>/switchyard
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const assets = await buildAssets(options.root ?? fileURLToPath(new URL("..", import.meta.url)))
  const stop = (name: string) => void nodes.find((node) => node.name === name)?.close()
  // #region cluster
  const names = options.names ?? ["a", "b"]
  const nodes = await Promise.all(
    names.map((name) => startNode({ name, redisUrl: options.redisUrl, assets, onStopRequest: stop })),
  )
  const balancer = await startBalancer(
    nodes.map((node) => node.port),
    options.port,
  )
  // #endregion cluster
  return {
    url: `${balancer.url}/switchyard`,
    pageUrl: `${balancer.url}/`,
    nodes,
    balancer,
    async close() {
      await Promise.all(nodes.map((node) => node.close()))
      await balancer.close()
    },
  }
}
