import { type ClientLinkEvents, isAckFrame, type Link, type LinkHeaders, type TransportId } from "@switchyard/core"

/** The `fetch` the HTTP transports use: the platform's, or one passed in. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

const GONE = "HTTP 410"
const LINK_CLOSED = "link closed"
/** Close reasons of a link the server closes itself; `"UPGRADE"` is what `connection.ts` passes on a switch. */
const SERVER_CLOSES: ReadonlySet<string> = new Set([GONE, LINK_CLOSED, "UPGRADE"])

/**
 * A link over HTTP (docs/http-transports.md): the first upstream POST opens it and names it, later POSTs
 * carry frames upstream one at a time, in order, and `downstream` brings frames the other way until the
 * link ends. Any failure ends the link; the session then resumes on a new one, as after a dropped socket.
 *
 * With `ackInDownstream` (long polling, polling) the link posts no ACK frames: every downstream request
 * carries the session's cumulative acknowledgement instead (`&ack=`), and such requests keep coming while
 * the link lives. `headers` (the client's credentials) go with the opening POST, where `authenticate` runs.
 */
export function httpLink(
  url: string,
  transport: TransportId,
  fetchImpl: FetchLike | undefined,
  events: ClientLinkEvents,
  downstream: (link: HttpLinkState) => Promise<void>,
  ackInDownstream = false,
  headers?: LinkHeaders,
): Link {
  const platformFetch = fetchImpl ?? (globalThis.fetch?.bind(globalThis) as FetchLike | undefined)
  if (!platformFetch) throw new TypeError("switchyard: no fetch here; pass one in the client options")
  const doFetch: FetchLike = platformFetch
  const abort = new AbortController()
  // One controller per request, all aborted when the link ends: a signal shared by every request would
  // collect a listener per fetch in Node (MaxListenersExceededWarning).
  const inflight = new Set<AbortController>()
  const request: FetchLike = (input, init) => {
    const controller = new AbortController()
    if (abort.signal.aborted) controller.abort()
    inflight.add(controller)
    return doFetch(input, { ...init, signal: controller.signal }).finally(() => inflight.delete(controller))
  }
  const state: HttpLinkState = {
    url,
    transport,
    id: undefined,
    fetch: request,
    signal: abort.signal,
    frames: events.frame,
    received: ackInDownstream && events.received ? events.received : undefined,
    end,
  }
  let outbox: string[] = []
  let posting = false
  let ended = false

  function end(code: number, reason: string): void {
    if (ended) return
    ended = true
    abort.abort()
    for (const controller of inflight) controller.abort()
    inflight.clear()
    // No DELETE for a link the server has closed or is closing itself: one that answered 410 or ended
    // its downstream, or one the session left for another (the HELLO there makes the server close this
    // one, CONNECTION_REPLACED). The DELETE would only get a 410, which browsers log as a console error.
    if (state.id !== undefined && !SERVER_CLOSES.has(reason)) {
      const upstream = `${url}${separator(url)}link=${state.id}`
      const remove = () => doFetch(upstream, { method: "DELETE", keepalive: true })
      // A graceful close still delivers what was queued (the session's BYE), then closes the link; if this
      // fails, the server's heartbeat ends the link.
      const last = code === 1000 && outbox.length > 0 ? outbox.join("\n") : undefined
      outbox = []
      const post =
        last === undefined
          ? Promise.resolve()
          : doFetch(upstream, { method: "POST", body: last, headers: plainText, keepalive: true })
      void post.then(remove, remove).catch(() => {})
    }
    queueMicrotask(() => events.close(code, reason))
  }

  async function flush(): Promise<void> {
    if (posting || ended || outbox.length === 0) return
    posting = true
    const batch = takeBatch()

    try {
      const opening = state.id === undefined
      const target = opening
        ? `${url}${separator(url)}transport=${transport}`
        : `${url}${separator(url)}link=${state.id}`
      const response = await request(target, {
        method: "POST",
        body: batch,
        headers: opening ? { ...headers, ...plainText } : plainText,
      })
      if (!response.ok) {
        await response.body?.cancel()
        // `authenticate` refused the credentials: not the transport's fault (docs/sessions.md#credentials).
        if (response.status === 401) return end(1006, "AUTH_REFUSED")
        // The server closed this link. What it queued with the close (a BYE) waits for one more
        // downstream request: collect it first, or the end of the session would go unnoticed.
        if (response.status === 410 && !opening && state.received !== undefined) return void collectThenEnd()
        return end(response.status === 410 ? 1001 : 1006, response.status === 410 ? GONE : `HTTP ${response.status}`)
      }
      if (opening) {
        const opened = (await response.json()) as { link?: unknown }
        if (typeof opened.link !== "string") return end(1006, "no link id")
        state.id = opened.link
        void downstream(state).then(
          () => end(1001, LINK_CLOSED),
          () => end(1006, "connection lost"),
        )
      } else await response.body?.cancel()
    } catch {
      return end(1006, "connection lost")
    } finally {
      posting = false
    }
    void flush()
  }

  /** Hands over the frames the server kept for this closed link's next downstream request, then ends. */
  async function collectThenEnd(): Promise<void> {
    try {
      const last = await request(downstreamUrl(state), { cache: "no-store" })
      if (last.status === 200) deliverBatch(state, await last.text())
      else await last.body?.cancel()
    } catch {
      // Nothing to collect: the link ends all the same.
    }
    end(1001, GONE)
  }

  /**
   * Takes frames off the outbox for one POST, up to `MAX_BATCH_CHARS` (a frame larger than that goes
   * alone): a body the server would refuse as too large would be refused again after every resume.
   */
  function takeBatch(): string {
    let size = 0
    let count = 0
    while (count < outbox.length) {
      const next = (outbox[count] as string).length + 1
      if (count > 0 && size + next > MAX_BATCH_CHARS) break
      size += next
      count++
    }
    return outbox.splice(0, count).join("\n")
  }

  // The link is open at once: the session's HELLO is the first frame of the opening POST.
  queueMicrotask(() => !ended && events.open())
  return {
    send(frame) {
      if (ended) return
      if (state.received !== undefined && state.id !== undefined && isAckFrame(frame)) return
      if (outbox.push(frame) === 1) queueMicrotask(() => void flush())
    },
    close: end,
  }
}

/** What a transport's downstream loop needs of its link. */
export interface HttpLinkState {
  readonly url: string
  readonly transport: TransportId
  id: string | undefined
  readonly fetch: FetchLike
  readonly signal: AbortSignal
  /** Delivers one frame received downstream. */
  readonly frames: (frame: string) => void
  /** The session's cumulative acknowledgement, when downstream requests carry it. */
  readonly received: (() => number) | undefined
  /** Ends the link. */
  readonly end: (code: number, reason: string) => void
}

/** The downstream URL of a link. */
export function downstreamUrl(link: HttpLinkState): string {
  const url = `${link.url}${separator(link.url)}transport=${link.transport}&link=${link.id}`
  return link.received === undefined ? url : `${url}&ack=${link.received()}`
}

/** Delivers a batch body (frames separated by newlines). */
export function deliverBatch(link: HttpLinkState, body: string): void {
  let start = 0
  while (start < body.length) {
    let end = body.indexOf("\n", start)
    if (end === -1) end = body.length
    if (end > start) link.frames(body.slice(start, end))
    start = end + 1
  }
}

const plainText = { "content-type": "text/plain;charset=UTF-8" }

/**
 * Most characters in one upstream POST. Servers take bodies up to the larger of their `maxMessageBytes`
 * and 1 MiB, plus 64 KiB; a character can take 3 bytes, so batches stay well inside that.
 */
const MAX_BATCH_CHARS = 256 * 1024

function separator(url: string): string {
  return url.includes("?") ? "&" : "?"
}
