import {
  type ClientLinkEvents,
  isAckFrame,
  isErrorCode,
  type Link,
  type LinkHeaders,
  type TransportId,
} from "@switchyard/core"

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
        if (response.status !== 410) return end(1006, await refusalOf(response))
        await response.body?.cancel()
        // The server closed this link. What it queued with the close (a BYE) waits for one more
        // downstream request: collect it first, or the end of the session would go unnoticed.
        if (!opening && state.received !== undefined) return void collectThenEnd()
        return end(1001, GONE)
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

/**
 * Why the server refused a request: `AUTH_REFUSED` for a 401 (`authenticate` refused the credentials), else
 * the code of its JSON body (docs/errors.md#http-refusals) when it is a `SwitchyardError` code or
 * `TOO_MANY_CONNECTIONS`, else `HTTP <status>` (a proxy's answer, say). The connection tells a refusal, the
 * server's answer and not the transport failing, by that code (docs/sessions.md#when-the-server-refuses-a-connection).
 * Only a JSON body of at most `REFUSAL_BODY_BYTES` is read: any other (a proxy's HTML error page) is
 * cancelled unread, and one that grows past the bound is cancelled there; either has no code.
 */
async function refusalOf(response: Response): Promise<string> {
  const { headers } = response
  const reader = response.body?.getReader()
  const decoder = new TextDecoder()
  let text = ""
  let code: unknown
  try {
    if (/json/i.test(`${headers.get("content-type")}`) && !(Number(headers.get("content-length")) > REFUSAL_BODY_BYTES))
      for (let chunk = await reader?.read(); chunk?.value; chunk = await reader?.read()) {
        // Chunk by chunk: a character split between two is garbled, which a code (ASCII) never is.
        text += decoder.decode(chunk.value)
        if (text.length > REFUSAL_BODY_BYTES) throw text
      }
    code = JSON.parse(text).code
  } catch {
    // Not JSON, too long or broken off: no code.
  }
  void reader?.cancel().catch(() => {})
  if (response.status === 401) return "AUTH_REFUSED"
  return isErrorCode(code) || code === "TOO_MANY_CONNECTIONS" ? code : `HTTP ${response.status}`
}

/**
 * The end of a downstream loop on an answer it cannot use: the link closed (410, the loop returns) or
 * anything else (it throws: the connection is lost). The body is cancelled unread either way: a 410's few
 * bytes, or a proxy's error page however large, which would otherwise hold the connection until collected.
 */
export async function gone(response: Response): Promise<void> {
  try {
    await response.body?.cancel()
  } catch {
    // A body that cannot be cancelled (a fetch of the app's without it) is left to the collector.
  }
  if (response.status !== 410) throw new Error(`HTTP ${response.status}`)
}

/**
 * Most characters of a refusal's body read for its code (one chunk more may arrive): the server's are under
 * 200; a proxy's error page may be megabytes.
 */
export const REFUSAL_BODY_BYTES = 4096

const plainText = { "content-type": "text/plain;charset=UTF-8" }

/**
 * Most characters in one upstream POST. Servers take bodies up to the larger of their `maxMessageBytes`
 * and 1 MiB, plus 64 KiB; a character can take 3 bytes, so batches stay well inside that.
 */
const MAX_BATCH_CHARS = 256 * 1024

function separator(url: string): string {
  return url.includes("?") ? "&" : "?"
}
