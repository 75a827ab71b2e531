import { createClient } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import type { Client } from "@switchyard/core"
import WebSocket from "ws"
import { Board } from "./contract.ts"

export interface MemberOptions {
  /** The balancer's `/switchyard` URL. */
  readonly url: string
  /** The name this member is listed and signs its notes with. */
  readonly name: string
  /** Default WebSocket, then long polling. */
  readonly transports?: ReadonlyArray<"websocket" | "long-polling">
}

/**
 * A Node client of the board, through the balancer: the same `createClient` a page uses, given `ws` and
 * a Node `fetch`. Nothing in it knows there are several nodes.
 *
 * @example
 * const ada = connectMember({ url: cluster.url, name: "ada" })
 * await ada.rpc.post({ board: "lobby", text: "hello" })
 */
export function connectMember(options: MemberOptions): Client<Board> {
  // #region client
  return createClient(Board, {
    url: options.url,
    transports: [...(options.transports ?? ["websocket", "long-polling"])],
    // Sent on every connection, reconnects included; the node that receives it runs `authenticate`.
    auth: { params: { name: options.name } },
    WebSocket,
    fetch: nodeFetch(),
  })
  // #endregion client
}
