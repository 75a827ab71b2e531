import type { IncomingMessage, ServerResponse } from "node:http"
import { answerFrames, type Downstream, type HttpLink } from "./http.ts"

/**
 * Polling: a GET is answered at once with every queued frame, or with an empty body. Nothing is held, so
 * it passes networks that cut held requests; the client decides how often to ask.
 */
export function pollingDownstream(): Downstream {
  return {
    id: "polling",
    get(link: HttpLink, _request: IncomingMessage, response: ServerResponse) {
      answerFrames(response, link.drain())
    },
    // Frames wait in the link's queue for the next poll.
    ready() {},
    closed() {},
  }
}
