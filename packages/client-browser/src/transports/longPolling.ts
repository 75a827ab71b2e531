import type { ClientLinkEvents, ClientTransport, Link, LinkHeaders } from "@switchyard/core"
import { deliverBatch, downstreamUrl, type FetchLike, gone, type HttpLinkState, httpLink } from "./http.ts"

/** Options of `longPollingTransport`. */
export interface LongPollingTransportOptions {
  /** Defaults to `globalThis.fetch`. */
  readonly fetch?: FetchLike | undefined
}

/**
 * Long polling: one GET at a time is held by the server until it has frames (or its poll timeout
 * passes); frames go up in POSTs. Works through any proxy that passes plain HTTP.
 *
 * @example
 * createClient(Chat, { url, transports: [longPollingTransport()] })
 */
export function longPollingTransport(options: LongPollingTransportOptions = {}): ClientTransport {
  return {
    id: "long-polling",
    // Plain requests pass nearly every network: the likeliest to connect at once.
    startRank: 10,
    connect(url: string, events: ClientLinkEvents, _signalling?: unknown, headers?: LinkHeaders): Link {
      return httpLink(url, "long-polling", options.fetch, events, poll, true, headers)
    },
  }
}

/** Polls until the link ends: 200 carries frames (or nothing, on timeout), 204 means replaced. */
async function poll(link: HttpLinkState): Promise<void> {
  while (!link.signal.aborted) {
    const response = await link.fetch(downstreamUrl(link), { cache: "no-store" })
    if (response.status !== 200 && response.status !== 204) return gone(response)
    deliverBatch(link, await response.text())
  }
}
