import type { IncomingMessage, ServerResponse } from "node:http"
import { answer, answerFrames } from "../httpAnswers.ts"
import type { ServerTransport } from "../transport.ts"
import { httpTransport } from "./http.ts"
import type { Downstream, HttpLink } from "./httpLink.ts"

/** Long polling (docs/long-polling.md), held for `limits.pollTimeoutMs`. */
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
    if (held.timer !== undefined) clearTimeout(held.timer)
    if (status === 204) answer(held.response, 204)
    else answerFrames(held.response, link.drain())
  }
  return {
    get(link: HttpLink, _request: IncomingMessage, response: ServerResponse) {
      release(link, 204)
      if (link.pending || link.isClosed) return answerFrames(response, link.drain())
      const timer = setTimeout(() => release(link, 200), pollTimeoutMs)
      link.held = { response, timer }
      // A client that gave up on its poll frees the slot (the response closes before it was finished).
      response.once("close", () => {
        if (link.held?.response !== response) return
        clearTimeout(timer)
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
