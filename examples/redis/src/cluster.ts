import { type Balancer, startBalancer } from "./balancer.ts"
import { type BoardNode, startNode } from "./node.ts"

export interface ClusterOptions {
  /** The Redis the nodes share. */
  readonly redisUrl: string
  /** The nodes' names; default `["a", "b"]`. */
  readonly names?: readonly string[]
  /** The balancer's port; default 0, a free one. */
  readonly port?: number
}

/** Nodes on one Redis behind the round-robin balancer. */
export interface Cluster {
  /** Where clients connect: the balancer's `/switchyard`. */
  readonly url: string
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
  // #region cluster
  const names = options.names ?? ["a", "b"]
  const nodes = await Promise.all(names.map((name) => startNode({ name, redisUrl: options.redisUrl })))
  const balancer = await startBalancer(
    nodes.map((node) => node.port),
    options.port,
  )
  // #endregion cluster
  return {
    url: `${balancer.url}/switchyard`,
    nodes,
    balancer,
    async close() {
      await Promise.all(nodes.map((node) => node.close()))
      await balancer.close()
    },
  }
}
