import { createServer as createHttpServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { redisBroker } from "@switchyard/redis"
import { createServer, type Server } from "@switchyard/server-node"
import { type Assets, serveAsset } from "./assets.ts"
import { Board } from "./contract.ts"

export interface NodeOptions {
  /** The node's name, shown to clients (`whereAmI`) and stamped on the notes it publishes. */
  readonly name: string
  /** The Redis every node shares, e.g. `redis://127.0.0.1:6379`. */
  readonly redisUrl: string
  /** Default 0: a free port. */
  readonly port?: number
  /** Default `"127.0.0.1"`. */
  readonly host?: string
  /** The page, served by every node (`buildAssets`); without it the node serves only Switchyard. */
  readonly assets?: Assets
  /**
   * The demo's "Stop node" button: a `POST /demo/stop?node=<name>` reaching this node (any node: the
   * balancer deals it to whichever) calls this with the name. Not something to expose in production.
   */
  readonly onStopRequest?: (name: string) => void
}

/** One running node: its own HTTP server with Switchyard attached at `/switchyard`. */
export interface BoardNode {
  readonly name: string
  readonly port: number
  readonly switchyard: Server<Board>
  /** Stops the node: its sessions move to the other nodes (docs/scaling.md#a-nodes-life). */
  close(): Promise<void>
}

/** The name a client gives as `?name=` on each connection; the server takes it as the session's `auth`. */
function nameOf(request: IncomingMessage): { readonly name: string } {
  const name = new URL(request.url ?? "/", "http://localhost").searchParams.get("name")
  return { name: name?.trim().slice(0, 24) || "anonymous" }
}

/**
 * Starts one node of the board. Every node runs this same code; what makes them one cluster is the
 * `broker`: each node's `redisBroker({ url })` on the same Redis.
 *
 * @example
 * const a = await startNode({ name: "a", redisUrl: "redis://127.0.0.1:6379" })
 */
export async function startNode(options: NodeOptions): Promise<BoardNode> {
  // #region server
  const switchyard = createServer(
    Board,
    {
      rpc: {
        // `ctx.auth` is what `authenticate` returned; it travels with the session when it moves.
        post: ({ board, text }, ctx) => {
          const note = { author: ctx.auth.name, text, node: options.name }
          // Published through Redis: every node with subscribers to this board delivers it.
          switchyard.topics.board(board).publish(note)
          return note
        },
        whereAmI: () => options.name,
      },
      topics: {
        board: {
          canPublish: () => false, // notes go through `post`, which stamps them
          presence: (_board, ctx) => ({ name: ctx.auth.name }),
        },
      },
    },
    {
      path: "/switchyard",
      authenticate: nameOf,
      // The one line that makes this a cluster: topics, the session directory, node messages and
      // presence go through Redis, shared by every node started with the same URL.
      broker: redisBroker({ url: options.redisUrl }),
    },
  )
  // #endregion server

  const http = createHttpServer((request, response) => {
    if (options.assets && serveAsset(request, response, options.assets)) return
    const url = new URL(request.url ?? "/", "http://localhost")
    if (request.method === "POST" && url.pathname === "/demo/stop" && options.onStopRequest) {
      options.onStopRequest(url.searchParams.get("node") ?? "")
      response.writeHead(202).end()
      return
    }
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n")
  })
  switchyard.attach(http)
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      http.off("error", reject)
      resolve()
    })
  })
  const { port } = http.address() as AddressInfo

  let closing: Promise<void> | undefined
  // #region close
  const close = () =>
    (closing ??= (async () => {
      // Refuse new connections first, so the balancer deals the clients' reconnects to the other nodes.
      const closed = new Promise<void>((resolve) => http.close(() => resolve()))
      // Closes each session's link without ending the session; the client reconnects elsewhere and
      // that node takes the session over from this one, with its subscriptions and its replay buffer.
      await switchyard.close()
      http.closeAllConnections()
      await closed
    })())
  // #endregion close
  return { name: options.name, port, switchyard, close }
}
