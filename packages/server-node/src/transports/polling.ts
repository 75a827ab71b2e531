import type { IncomingMessage, ServerResponse } from "node:http"
import { answerFrames } from "../httpAnswers.ts"
import type { ServerTransport } from "../transport.ts"
import { httpTransport } from "./http.ts"
import type { Downstream, HttpLink } from "./httpLink.ts"

/**
 * Polling (docs/polling.md).
 *
 * @example
 * ```ts
 * import { createServer, pollingServer, websocketServer } from "@switchyard/server-node"
 *
 * // WebSocket, and polling for networks that cut held requests.
 * const server = createServer(Chat, handlers, { transports: [websocketServer(), pollingServer()] })
 * ```
 */
export function pollingServer(): ServerTransport {
  return httpTransport("polling", { duplex: false, binary: false, ordered: true }, () => pollingDownstream())
}

/**
 * Polling: a GET is answered at once with every queued frame, or with an empty body. Nothing is held, so
 * it passes networks that cut held requests; the client decides how often to ask.
 */
function pollingDownstream(): Downstream {
  return {
    get(link: HttpLink, _request: IncomingMessage, response: ServerResponse) {
      answerFrames(response, link.drain())
    },
    // Frames wait in the link's queue for the next poll.
    ready() {},
    closed() {},
  }
}
