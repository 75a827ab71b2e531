import {
  type EventSourceConstructor,
  type FetchLike,
  longPollingTransport,
  pollingTransport,
  sseTransport,
} from "@switchyard/client-browser"
import type { ClientTransport, TransportId } from "@switchyard/core"

/** The HTTP transports of a doctor's platform, and what ended their links, when it was an answer. */
export interface WatchedTransports {
  /** SSE, long polling and polling, each on its own watched `fetch`. */
  readonly transports: readonly ClientTransport[]
  /** `"HTTP 504"` when the last answer that was not a success to `id`'s requests was a 504. */
  readonly said: (id: TransportId) => string | undefined
}

/**
 * SSE, long polling and polling on `fetch`, each watched: the status of the last answer to its requests
 * that was not a success is kept. A transport ends its link on such an answer to a held request (a
 * proxy's 504 to a long poll) as "connection lost", keeping no status; the doctor names it in its finding
 * (docs/doctor.md#held-requests-cut). Every answer that is not a success ends a link, so the last is the one.
 * `EventSource` is for Node (the `eventsource` package, which makes its requests with the `fetch` given).
 */
export function watchedHttpTransports(fetch: FetchLike, EventSource?: EventSourceConstructor): WatchedTransports {
  const said = new Map<TransportId, string>()
  const watched =
    (id: TransportId): FetchLike =>
    async (input, init) => {
      const response = await fetch(input, init)
      if (!response.ok) said.set(id, `HTTP ${response.status}`)
      return response
    }
  return {
    transports: [
      sseTransport({ EventSource, fetch: watched("sse") }),
      longPollingTransport({ fetch: watched("long-polling") }),
      pollingTransport({ fetch: watched("polling") }),
    ],
    said: (id) => said.get(id),
  }
}
