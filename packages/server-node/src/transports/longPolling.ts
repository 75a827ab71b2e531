import type { IncomingMessage, ServerResponse } from "node:http"
import { answer, answerFrames } from "../httpAnswers.ts"
import { Periodic } from "../periodic.ts"
import type { ServerTransport } from "../transport.ts"
import { httpTransport } from "./http.ts"
import type { Downstream, HeldResponse, HttpLink } from "./httpLink.ts"

/**
 * Long polling (docs/long-polling.md), held for `limits.pollTimeoutMs`.
 *
 * @example
 * ```ts
 * import { createServer, longPollingServer, websocketServer } from "@switchyard/server-node"
 *
 * // WebSocket, and long polling where WebSocket does not get through; no SSE, no polling.
 * const server = createServer(Chat, handlers, { transports: [websocketServer(), longPollingServer()] })
 * ```
 */
export function longPollingServer(): ServerTransport {
  return httpTransport("long-polling", { duplex: false, binary: false, ordered: true }, (limits) =>
    longPollingDownstream(limits.pollTimeoutMs),
  )
}

/**
 * Long polling: a GET is held until the link has frames, or until `pollTimeoutMs` passes, and is then
 * answered with every queued frame. A poll that arrives while another is held replaces it (the held one
 * gets 204): the client never has two out, so the older one was lost on the way.
 */
function longPollingDownstream(pollTimeoutMs: number): Downstream {
  const release = (link: HttpLink, status: 200 | 204) => {
    const held = link.held
    if (!held) return
    link.held = undefined
    held.cancel()
    if (status === 204) answer(held.response, 204)
    else answerFrames(held.response, link.drain())
  }
  return {
    get(link: HttpLink, _request: IncomingMessage, response: ServerResponse) {
      release(link, 204)
      if (link.pending || link.isClosed) return answerFrames(response, link.drain())
      const held = new HeldPoll(link, response, release)
      held.hold(pollTimeoutMs)
      link.held = held
      // A client that gave up on its poll frees the slot (the response closes before it was finished).
      // 'close' comes once: no `once` wrapper.
      response.on("close", () => {
        if (link.held !== held) return
        held.cancel()
        link.held = undefined
      })
    },
    superseded(link: HttpLink) {
      release(link, 204)
    },
    ready(link: HttpLink) {
      release(link, 200)
    },
    closed(link: HttpLink) {
      release(link, 200)
    },
  }
}

/**
 * A held poll, answered with what is queued after `pollTimeoutMs`: a one-shot entry of the shared timers
 * rather than a timer of its own (docs/performance.md#idle-connections).
 */
class HeldPoll extends Periodic implements HeldResponse {
  constructor(
    private readonly link: HttpLink,
    readonly response: ServerResponse,
    private readonly release: (link: HttpLink, status: 200) => void,
  ) {
    super()
  }

  hold(ms: number): void {
    this.startPeriod(ms)
  }

  cancel(): void {
    this.stopPeriod()
  }

  protected onPeriod(): void {
    this.stopPeriod()
    this.release(this.link, 200)
  }
}
