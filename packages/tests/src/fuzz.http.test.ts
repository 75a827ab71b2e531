import { closeCodeOf, type ErrorCode, errorCodes, FrameType } from "@switchyard/core"
import { type TestServerState, waitFor } from "@switchyard/core/testing"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  bystanders,
  fuzzParams,
  fuzzTestTimeoutMs,
  garbage,
  maxInvalidFrames,
  refusalOf,
  watchUncaught,
} from "./support/fuzz.ts"
import { startTestServer } from "./support/harnesses.ts"
import { HttpPeer } from "./support/httpPeer.ts"

/**
 * Fuzzed HTTP bodies and requests to a live server (fast-check; bounded, FUZZ_RUNS raises it): batches of
 * refused lines in upstream POSTs of long polling, polling and SSE each get the NOTICE the codec names
 * (and the link ends on the one past `maxInvalidFrames`); requests with random methods, query strings,
 * headers and bodies get a documented status (docs/protocol.md#answers); no exception escapes, and honest
 * clients on every transport notice nothing.
 */

/** Text as it arrives in a body read as UTF-8: an unpaired surrogate becomes U+FFFD on the way. */
const asSent = (s: string) => Buffer.from(s, "utf8").toString("utf8")

/** What docs/protocol.md#answers lists. */
const documentedStatuses = new Set([200, 204, 400, 401, 403, 405, 410, 413, 426, 429, 503])

describe("fuzzed HTTP bodies and requests to a live server", () => {
  const state: TestServerState = { aborted: new Set() }
  const server = startTestServer({}, state)
  let url: string
  let stopWatching: () => unknown[]
  let honest: Awaited<ReturnType<typeof bystanders>>
  const peers = new Set<HttpPeer>()

  beforeAll(async () => {
    url = (await server.listen(0, "127.0.0.1")).url
    stopWatching = watchUncaught()
    honest = await bystanders(server, url)
  })
  afterAll(async () => {
    await Promise.all([...peers].map((p) => p.close()))
    await honest?.close()
    stopWatching?.()
    await server.close()
  })

  it.each(["long-polling", "polling", "sse"] as const)(
    "answers each refused line of a %s upstream POST with the NOTICE the codec names",
    async (transport) => {
      const lines = garbage({ binary: false })
        .map((m) => asSent(m as string))
        .filter((m) => refusalOf(m) !== undefined)
      await fc.assert(
        fc.asyncProperty(fc.array(lines, { minLength: 1, maxLength: maxInvalidFrames + 1 }), async (batch) => {
          const peer = await HttpPeer.open(url, transport)
          peers.add(peer)
          expect(await peer.post(batch.join("\n"))).toBe(204)
          const codes = batch.map((m) => refusalOf(m) as string)
          if (batch.length > maxInvalidFrames) {
            const last = codes.at(-1) as ErrorCode
            await waitFor(() => peer.gone, 5000, "the link to end")
            expect(peer.of(FrameType.NOTICE).map((f) => f[1])).toEqual([...codes, last])
            expect(closeCodeOf(last)).toBeGreaterThan(0)
          } else {
            expect(await peer.post(JSON.stringify([FrameType.CALL, 1, 7, "add", { a: 2, b: 3 }]))).toBe(204)
            await waitFor(() => peer.of(FrameType.RESULT).length > 0, 3000, "the RESULT after the refusals")
            expect(peer.of(FrameType.NOTICE).map((f) => f[1])).toEqual(codes)
            expect(peer.of(FrameType.RESULT)).toEqual([[FrameType.RESULT, 1, 7, 5]])
            expect(peer.gone).toBe(false)
          }
          expect(peer.unreadable).toEqual([])
          await peer.close()
          peers.delete(peer)
        }),
        fuzzParams(20, 4000),
      )
    },
    fuzzTestTimeoutMs(),
  )

  it(
    "answers requests of random methods, query strings, headers and bodies with a documented status",
    async () => {
      const live = await HttpPeer.open(url, "long-polling")
      peers.add(live)
      const statuses = new Set<number>()
      const request = fc.record({
        method: fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"),
        transport: fc.option(fc.constantFrom("sse", "long-polling", "polling", "websocket", "", "x", "SSE")),
        link: fc.option(fc.oneof(fc.constant(live.link), fc.string({ maxLength: 30 }), fc.base64String())),
        ack: fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.nat().map(String))),
        negotiate: fc.boolean(),
        lastEventId: fc.option(fc.string({ maxLength: 20 })),
        body: fc.option(fc.oneof(garbage({ binary: false }) as fc.Arbitrary<string>, fc.string())),
      })
      const plain: typeof request extends fc.Arbitrary<infer R> ? R : never = {
        method: "GET",
        transport: null,
        link: null,
        ack: null,
        negotiate: false,
        lastEventId: null,
        body: null,
      }
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const query = new URLSearchParams()
          if (r.transport !== null) query.set("transport", r.transport)
          if (r.link !== null) query.set("link", r.link)
          if (r.ack !== null) query.set("ack", r.ack)
          if (r.negotiate) query.set("negotiate", "1")
          const headers: Record<string, string> = {}
          if (r.lastEventId !== null) headers["last-event-id"] = r.lastEventId.replace(/[^\x20-\x7e]/g, "")
          const withBody = r.method !== "GET" && r.body !== null
          let response: Response
          try {
            response = await fetch(`${url}?${query}`, {
              method: r.method,
              headers,
              ...(withBody ? { body: r.body as string } : {}),
              // A long poll on the live link is held: that is its answer. Any other request is answered at
              // once, and gets the longer bound only so that a loaded machine cannot pass for a held request.
              signal: AbortSignal.timeout(r.method === "GET" && r.link === live.link ? 500 : 10_000),
            })
          } catch (e) {
            expect((e as Error).name).toBe("TimeoutError")
            expect(r.method === "GET" && r.link === live.link).toBe(true)
            return
          }
          expect(documentedStatuses.has(response.status), `${r.method} ${query} → ${response.status}`).toBe(true)
          statuses.add(response.status)
          const type = response.headers.get("content-type") ?? ""
          if (response.status >= 400) {
            const refusal = (await response.json()) as { code: string; message: string }
            expect(Object.hasOwn(errorCodes, refusal.code), refusal.code).toBe(true)
            expect(typeof refusal.message).toBe("string")
          } else if (type.startsWith("text/event-stream")) {
            await response.body?.cancel()
          } else {
            const body = await response.text()
            // A link opened by a fuzzed POST: closed again, so that links do not pile up toward the bound.
            if (r.method === "POST" && response.status === 200 && body.startsWith('{"link"')) {
              const { link } = JSON.parse(body) as { link: string }
              await (await fetch(`${url}?link=${link}`, { method: "DELETE" })).arrayBuffer()
            }
          }
        }),
        {
          ...fuzzParams(150),
          // One request per route the last line names, run first: under load the time limit can end the
          // random runs before chance reaches each of them.
          examples: [
            [{ ...plain, method: "POST", transport: "long-polling" }], // 200, a link opened
            [{ ...plain, method: "OPTIONS", transport: "long-polling" }], // 204, a preflight
            [{ ...plain, method: "POST", transport: "x" }], // 400, an opening POST for no such transport
            [{ ...plain, method: "PUT" }], // 405
            [{ ...plain, transport: "long-polling", link: "gone" }], // 410, no such link
          ],
        },
      )
      await live.close()
      peers.delete(live)
      // The requests reached the routes that matter: links opened, refusals, gone links, preflights.
      expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 204, 400, 405, 410]))
    },
    fuzzTestTimeoutMs(),
  )

  it("leaves no uncaught exception, and the honest clients on every transport saw nothing", async () => {
    const { published, calls } = await honest.check()
    expect(published).toBeGreaterThan(0)
    expect(calls).toBeGreaterThan(0)
    expect(stopWatching()).toEqual([])
    const peer = await HttpPeer.open(url, "long-polling")
    peers.add(peer)
    expect(await peer.post(JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 20, b: 22 }]))).toBe(204)
    await waitFor(() => peer.of(FrameType.RESULT).length > 0, 3000, "a RESULT")
    expect(peer.of(FrameType.RESULT)).toEqual([[FrameType.RESULT, 1, 1, 42]])
  })
})
