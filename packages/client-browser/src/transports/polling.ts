import { type ClientLinkEvents, type ClientTransport, isAckFrame, type Link, type LinkHeaders } from "@switchyard/core"
import { deliverBatch, downstreamUrl, type FetchLike, gone, type HttpLinkState, httpLink } from "./http.ts"

/** Options of `pollingTransport`. */
export interface PollingTransportOptions {
  /** Defaults to `globalThis.fetch`. */
  readonly fetch?: FetchLike | undefined
  /** Wait between polls while frames flow (ms). Default 25. */
  readonly minIntervalMs?: number | undefined
  /**
   * Longest wait between polls when idle (ms); each empty answer doubles the wait up to this. Default
   * 1000. The server's heartbeat PINGs are frames, so an idle link still polls at about the heartbeat
   * interval; keep this below the server's heartbeat interval + timeout.
   */
  readonly maxIntervalMs?: number | undefined
}

/**
 * Polling: a GET at an adaptive interval, answered at once with whatever the server has queued; frames
 * go up in POSTs. Fast while frames flow, backing off when idle. For networks that cut held requests.
 *
 * @example
 * createClient(Chat, { url, transports: [pollingTransport({ minIntervalMs: 50, maxIntervalMs: 2000 })] })
 */
export function pollingTransport(options: PollingTransportOptions = {}): ClientTransport {
  const minIntervalMs = validInterval(options.minIntervalMs, 25)
  const maxIntervalMs = Math.max(minIntervalMs, validInterval(options.maxIntervalMs, 1000))
  return {
    id: "polling",
    // Plain requests too, but each answer waits for the next poll.
    startRank: 20,
    connect(url: string, events: ClientLinkEvents, _signalling?: unknown, headers?: LinkHeaders): Link {
      let interval = minIntervalMs
      /** Ends the current wait early (after `minIntervalMs` from now), when one is running. */
      let hurry: (() => void) | undefined

      async function poll(link: HttpLinkState): Promise<void> {
        while (!link.signal.aborted) {
          const response = await link.fetch(downstreamUrl(link), { cache: "no-store" })
          if (response.status !== 200) return gone(response)
          const body = await response.text()
          interval = body.length > 0 ? minIntervalMs : Math.min(interval * 2, maxIntervalMs)
          deliverBatch(link, body)
          await wait(link.signal)
        }
      }

      function wait(signal: AbortSignal): Promise<void> {
        return new Promise((resolve) => {
          const done = () => {
            clearTimeout(timer)
            hurry = undefined
            signal.removeEventListener("abort", done)
            resolve()
          }
          let timer = setTimeout(done, interval)
          const started = Date.now()
          hurry = () => {
            // Something went up: an answer is likely on its way, so poll soon (once: later sends must
            // not push the poll further off).
            hurry = undefined
            if (Date.now() - started + minIntervalMs >= interval) return
            clearTimeout(timer)
            timer = setTimeout(done, minIntervalMs)
          }
          signal.addEventListener("abort", done)
        })
      }

      const link = httpLink(url, "polling", options.fetch, events, poll, true, headers)
      return {
        send(frame) {
          link.send(frame)
          // An ACK rides on the next poll and expects no answer: no reason to poll sooner.
          if (isAckFrame(frame)) return
          interval = minIntervalMs
          hurry?.()
        },
        close: link.close,
      }
    },
  }
}

/** A usable interval: a finite number of at least 1 ms, or the default. */
function validInterval(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? value : fallback
}
