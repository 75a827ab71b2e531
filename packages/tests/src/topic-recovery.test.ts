import { createClient } from "@switchyard/client-browser/all"
import {
  type Client,
  control,
  decodeClientFrame,
  decodeServerFrame,
  FrameType,
  type SwitchyardError,
  type TopicHandle,
} from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, type Server, type ServerLimits } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { testClientOptions } from "./support/harnesses.ts"
import { listenOn } from "./support/listenOn.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/**
 * Topic offsets and epochs (docs/topics.md): when the server no longer has a client's session, the
 * client renews its subscriptions from the position it had reached, and the server replays what the
 * key's history still holds: every missed publication once, in order, then the live ones
 * (`recovered: true`); or it says the gap cannot be filled (`recovered: false`, and `TOPIC_GAP`).
 */

type Recovery = Parameters<NonNullable<NonNullable<Parameters<TopicHandle<number>["subscribe"]>[1]>["onRecover"]>>[0]

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Rig {
  server: Server<TestContract>
  readonly port: number
  readonly proxy: TcpProxy
  /** The server URL through the proxy. */
  readonly url: string
  /** The server URL without the proxy. */
  readonly direct: string
  /** Why each session ended, in order (`onSessionEnd`). */
  readonly ended: string[]
  publish(key: string, n: number): void
}

type Policies = Partial<Handlers<TestContract>["topics"]>

function startServer(limits: Partial<ServerLimits>, ended: string[], topics: Policies = {}): Server<TestContract> {
  const state: TestServerState = { aborted: new Set() }
  const handlers = testHandlers(state) as unknown as Handlers<TestContract>
  const server = createServer(
    TestContract,
    { ...handlers, topics: { ...handlers.topics, ...topics } },
    {
      // A session dropped by the tests is gone quickly, so that the client has to start a new one.
      limits: { resumeWindowMs: 300, ...limits },
      onError: () => {},
      onSessionEnd: (_session, reason) => ended.push(reason),
    },
  )
  cleanup.push(() => server.close())
  return server
}

/** A server on 127.0.0.1 behind a TCP proxy that can cut and stall the network. */
async function startRig(limits: Partial<ServerLimits> = {}, topics: Policies = {}): Promise<Rig> {
  const ended: string[] = []
  const server = startServer(limits, ended, topics)
  const { port, url: direct } = await server.listen(0, "127.0.0.1")
  const proxy = await TcpProxy.start(port)
  cleanup.push(() => proxy[Symbol.asyncDispose]())
  const rig: Rig = {
    server,
    port,
    proxy,
    url: `http://127.0.0.1:${proxy.port}/switchyard`,
    direct,
    ended,
    publish: (key, n) => rig.server.topics.feed(key).publish(n),
  }
  return rig
}

function startClient(rig: Rig, transport: "websocket" | "long-polling" = "websocket") {
  const client = createClient(TestContract, { url: rig.url, transports: [transport], WebSocket, ...testClientOptions })
  cleanup.push(() => client.close())
  const errors: SwitchyardError[] = []
  client.on("error", (error) => errors.push(error))
  return { client, errors }
}

/** Subscribes to `feed(key)`, recording every message and every recovery. */
function follow(client: Client<TestContract>, key: string) {
  const got: number[] = []
  const recoveries: Recovery[] = []
  const off = client.topics.feed(key).subscribe((n) => got.push(n), { onRecover: (info) => recoveries.push(info) })
  return { got, recoveries, off }
}

/**
 * The server loses the client's session: the network stalls and every connection is cut, so the client
 * cannot come back before the resume window passes and the server ends the session. Undo with
 * `rig.proxy.stall(false)`.
 */
async function loseSession(rig: Rig): Promise<void> {
  const before = rig.ended.length
  rig.proxy.stall(true)
  rig.proxy.drop()
  await waitFor(() => rig.ended.length > before, 10_000, "the server to end the session")
}

describe("recovering a subscription after a lost session", () => {
  it.each(["websocket", "long-polling"] as const)(
    "%s: replays every publication missed, once each and in order (recovered: true), then live ones",
    async (transport) => {
      // Long polling notices a cut network by its heartbeat; WebSocket sees the close at once.
      const rig = await startRig(
        transport === "long-polling" ? { heartbeatIntervalMs: 150, heartbeatTimeoutMs: 150 } : {},
      )
      const { client, errors } = startClient(rig, transport)
      const feed = follow(client, "k")
      const second: Recovery[] = []
      const alsoGot: number[] = []
      client.topics.feed("k").subscribe((n) => alsoGot.push(n), { onRecover: (info) => second.push(info) })
      await waitFor(() => rig.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
      for (const n of range(1, 5)) rig.publish("k", n)
      await waitFor(() => feed.got.length === 5, 5000, "the first messages")
      const firstSession = client.sessionId

      await loseSession(rig)
      expect(rig.server.topics.feed("k").subscribers).toBe(0)
      for (const n of range(6, 25)) rig.publish("k", n)
      rig.proxy.stall(false)

      await waitFor(() => feed.recoveries.length === 1 && feed.got.length >= 25, 10_000, "the recovery")
      expect(client.sessionId).not.toBe(firstSession)
      expect(feed.recoveries).toEqual([{ recovered: true, missed: 0 }])
      expect(second).toEqual([{ recovered: true, missed: 0 }])
      rig.publish("k", 26)
      await waitFor(() => feed.got.length === 26 && alsoGot.length === 26, 5000, "the live message")
      expect(feed.got).toEqual(range(1, 26))
      expect(alsoGot).toEqual(range(1, 26))
      expect(errors.map((e) => e.code)).not.toContain("TOPIC_GAP")
      expect(rig.ended).toEqual(["SESSION_LOST"])
    },
  )

  it("says recovered: false with the count missed when the history is too short, and the live stream goes on", async () => {
    const rig = await startRig({ topicHistorySize: 3 })
    const { client, errors } = startClient(rig)
    const feed = follow(client, "k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    rig.publish("k", 1)
    rig.publish("k", 2)
    await waitFor(() => feed.got.length === 2, 5000, "the first messages")

    await loseSession(rig)
    // Four publications while away; the history keeps the last three.
    for (const n of range(3, 6)) rig.publish("k", n)
    rig.proxy.stall(false)

    await waitFor(() => feed.recoveries.length === 1, 10_000, "the renewal")
    expect(feed.recoveries).toEqual([{ recovered: false, missed: 4 }])
    const gap = errors.find((e) => e.code === "TOPIC_GAP")
    expect(gap?.message).toContain('feed("k"): 4 publications')
    expect(gap?._tag).toBe("SessionError")
    rig.publish("k", 7)
    await waitFor(() => feed.got.length === 3, 5000, "the live message")
    expect(feed.got).toEqual([1, 2, 7])
  })

  it("says recovered: false, and TOPIC_GAP, when the renewal itself is refused: the gap is never silent", async () => {
    // Found by the cluster soak (issue 11): a renewal refused (there BROKER_UNAVAILABLE) ended the
    // subscription with its error only, and what the lost session had missed was never reported.
    let allowed = 1
    const rig = await startRig({}, { feed: { canSubscribe: () => allowed-- > 0 } })
    const { client, errors } = startClient(rig)
    const feed = follow(client, "k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    rig.publish("k", 1)
    await waitFor(() => feed.got.length === 1, 5000, "the first message")

    await loseSession(rig)
    for (const n of range(2, 4)) rig.publish("k", n)
    rig.proxy.stall(false)

    await waitFor(() => errors.some((e) => e.code === "FORBIDDEN"), 10_000, "the refused renewal")
    expect(feed.recoveries).toEqual([{ recovered: false }])
    const gap = errors.find((e) => e.code === "TOPIC_GAP")
    expect(gap?.message).toContain('feed("k"): publications made while the session was lost')
    expect(errors.map((e) => e.code)).toEqual(["SESSION_LOST", "TOPIC_GAP", "FORBIDDEN"])
    expect(feed.got).toEqual([1])
  })

  it("replays exactly what fits in the history: as many missed as it holds is still recovered", async () => {
    const rig = await startRig({ topicHistorySize: 3 })
    const { client } = startClient(rig)
    const feed = follow(client, "k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    rig.publish("k", 1)
    await waitFor(() => feed.got.length === 1, 5000, "the first message")
    await loseSession(rig)
    for (const n of range(2, 4)) rig.publish("k", n)
    rig.proxy.stall(false)
    await waitFor(() => feed.recoveries.length === 1 && feed.got.length === 4, 10_000, "the recovery")
    expect(feed.recoveries).toEqual([{ recovered: true, missed: 0 }])
    expect(feed.got).toEqual([1, 2, 3, 4])
  })

  it("says recovered: false, count unknown, when the server restarted (a new epoch)", async () => {
    const rig = await startRig()
    const { client, errors } = startClient(rig)
    const feed = follow(client, "k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    rig.publish("k", 1)
    await waitFor(() => feed.got.length === 1, 5000, "the first message")

    await rig.server.close()
    const ended: string[] = []
    rig.server = await listenOn(() => startServer({}, ended), rig.port)

    await waitFor(() => feed.recoveries.length === 1, 10_000, "the renewal")
    expect(feed.recoveries).toEqual([{ recovered: false }])
    expect(errors.map((e) => e.code)).toContain("TOPIC_GAP")
    expect(errors.find((e) => e.code === "TOPIC_GAP")?.message).toContain('feed("k"): publications made')
    rig.publish("k", 100)
    await waitFor(() => feed.got.length === 2, 5000, "the live message")
    expect(feed.got).toEqual([1, 100])
  })

  it("neither loses nor doubles publications made while the client recovers (publishing in a tight loop)", async () => {
    // canSubscribe answers late, so that publications also land between the SUBSCRIBE and the join.
    const rig = await startRig(
      { topicHistorySize: 5000 },
      {
        feed: {
          canSubscribe: async () => {
            await sleep(10)
            return true
          },
        },
      },
    )
    const { client, errors } = startClient(rig)
    const feed = follow(client, "k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    let published = 0
    const next = () => rig.publish("k", ++published)
    for (let i = 0; i < 10; i++) next()
    await waitFor(() => feed.got.length === 10, 5000, "the first messages")

    await loseSession(rig)
    for (let i = 0; i < 50; i++) next()
    rig.proxy.stall(false)
    // Keep publishing (a burst per timer tick, about 1 ms) until the recovery is done and live messages flow.
    let recoveredAt = Number.POSITIVE_INFINITY
    const deadline = Date.now() + 15_000
    while (feed.got.length < recoveredAt + 300 && Date.now() < deadline) {
      for (let i = 0; i < 4; i++) next()
      if (feed.recoveries.length > 0 && recoveredAt === Number.POSITIVE_INFINITY) recoveredAt = published
      await sleep(0)
    }
    await waitFor(() => feed.got.length >= published, 5000, "every publication")
    expect(feed.recoveries).toEqual([{ recovered: true, missed: 0 }])
    expect(feed.got.length).toBe(published)
    expect(feed.got).toEqual(range(1, published))
    expect(errors.map((e) => e.code)).not.toContain("TOPIC_GAP")
  })
})

describe("SUBSCRIBE positions on the wire", () => {
  it("answers hostile positions with ERROR INVALID_FRAME for the request; the session and other clients go on", async () => {
    const rig = await startRig()
    const { client: bystander, errors } = startClient(rig)
    const watched = follow(bystander, "k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 1, 5000, "the bystander's subscription")
    await waitFor(() => bystander.state === "connected", 5000, "the bystander to connect")
    const states: string[] = []
    bystander.on("state", (state) => states.push(state))

    const peer = await RawPeer.open(rig.direct)
    const hostile = [
      '[-1,"e"]',
      '[1.5,"e"]',
      `[${2 ** 53},"e"]`,
      `[${2 ** 64},"e"]`,
      '[1e400,"e"]',
      '["NaN","e"]',
      '[null,"e"]',
      '["1","e"]',
      '[true,"e"]',
      '[[1],"e"]',
      `[1,"${"x".repeat(10_000)}"]`,
      `[1,"${"x".repeat(65)}"]`,
      '[1,""]',
      "[1,5]",
      "[1,null]",
      '{"offset":1,"epoch":"e"}',
      "[1]",
      '[1,"e",2]',
      "[]",
      '"abc"',
      "0",
      "true",
    ]
    const expected = [
      ...Array(10).fill("since offset must be an integer from 0 to 9007199254740991"),
      ...Array(5).fill("since epoch must be a string of 1 to 64 characters"),
      ...Array(7).fill("since must be null or [offset, epoch]"),
    ]
    // More than maxInvalidFrames (16): these are refused requests, not invalid frames.
    const ids = hostile.map((since, i) => peer.request(FrameType.SUBSCRIBE, 100 + i, `"feed","k",${since}`))
    const replies = await Promise.all(ids.map((id) => peer.reply(id)))
    expect(replies.map((r) => r[0])).toEqual(hostile.map(() => FrameType.ERROR))
    expect(replies.map((r) => r[3])).toEqual(hostile.map(() => "INVALID_FRAME"))
    expect(replies.map((r) => r[4])).toEqual(expected.map((why) => `SUBSCRIBE: ${why}`))
    // Nothing the peer sent is echoed back.
    expect(replies.every((r) => !JSON.stringify(r).includes("xxxx"))).toBe(true)

    // The session goes on: the sequence was kept, and a well-formed SUBSCRIBE is confirmed.
    const ok = await peer.reply(peer.request(FrameType.SUBSCRIBE, 200, '"feed","k",null'))
    expect(ok[0]).toBe(FrameType.RESULT)
    expect(peer.notices).toEqual([])
    expect(peer.closed).toBeUndefined()
    expect(rig.server.topics.feed("k").subscribers).toBe(2)

    // A frame of the wrong length stays a malformed frame: a NOTICE, not an answer.
    peer.raw(`[9,${peer.nextSeq},300,"feed","k",null,1]`)
    expect((await peer.notice(1))[1]).toBe("INVALID_FRAME")

    rig.publish("k", 1)
    await waitFor(() => watched.got.length === 1, 5000, "the bystander's message")
    expect(watched.got).toEqual([1])
    expect(errors).toEqual([])
    expect(states).toEqual([])
  })

  it("the codec refuses hostile offsets in MESSAGE frames and tells apart SUBSCRIBE forms", () => {
    for (const offset of ["0", "-1", "1.5", String(2 ** 53), "1e400", '"1"', "null", "[1]"]) {
      const decoded = decodeServerFrame(`[12,1,"feed","k",5,${offset}]`)
      expect(decoded.ok, offset).toBe(false)
    }
    expect(decodeServerFrame('[12,1,"feed","k",5,7]')).toEqual({ ok: true, frame: [12, 1, "feed", "k", 5, 7] })
    expect(decodeServerFrame('[12,1,"feed","k",5]')).toEqual({ ok: true, frame: [12, 1, "feed", "k", 5] })
    expect(decodeServerFrame('[12,1,"feed","k",5,7,8]').ok).toBe(false)

    for (const since of ["", ",null", ',[0,"e"]', `,[${2 ** 53 - 1},"${"e".repeat(64)}"]`]) {
      expect(decodeClientFrame(`[9,1,2,"feed","k"${since}]`).ok, since).toBe(true)
    }
    const refused = decodeClientFrame('[9,3,4,"feed","k",[-1,"e"]]')
    expect(refused).toMatchObject({ ok: false, code: "INVALID_FRAME", request: { seq: 3, id: 4 } })
    // A request whose head is malformed cannot be answered: no `request`.
    const headless = decodeClientFrame('[9,3,-4,"feed","k",[-1,"e"]]')
    expect(headless.ok).toBe(false)
    expect(headless).not.toHaveProperty("request")
  })

  it("confirms with [offset, epoch, recovered], replays from a position, and keeps the older form working", async () => {
    const rig = await startRig()
    const a = await RawPeer.open(rig.direct)
    const joined = await a.reply(a.request(FrameType.SUBSCRIBE, 1, '"feed","k",null'))
    expect(joined[3]).toEqual([0, expect.any(String), true])
    const epoch = (joined[3] as [number, string, boolean])[1]
    expect(epoch).toMatch(/^[A-Za-z0-9_-]{12}$/)
    // The form without `since`: confirmed with null, MESSAGE frames without offsets.
    const legacy = await RawPeer.open(rig.direct)
    expect((await legacy.reply(legacy.request(FrameType.SUBSCRIBE, 1, '"feed","k"')))[3]).toBeNull()

    for (const n of range(1, 4)) rig.publish("k", n)
    await waitFor(() => a.messages().length === 4 && legacy.messages().length === 4, 5000, "the messages")
    expect(a.messages().map((m) => m.slice(2))).toEqual(range(1, 4).map((n) => ["feed", "k", n, n]))
    expect(legacy.messages().map((m) => m.slice(2))).toEqual(range(1, 4).map((n) => ["feed", "k", n]))

    // Another client resumes from offset 1 of that epoch: RESULT first, then 2, 3, 4, then live ones.
    const b = await RawPeer.open(rig.direct)
    const resumed = await b.reply(b.request(FrameType.SUBSCRIBE, 1, `"feed","k",[1,"${epoch}"]`))
    expect(resumed[3]).toEqual([1, epoch, true])
    rig.publish("k", 5)
    await waitFor(() => b.messages().length === 4, 5000, "the replay and the live message")
    expect(b.messages().map((m) => m[5])).toEqual([2, 3, 4, 5])
    expect(b.frames.indexOf(resumed)).toBeLessThan(b.frames.indexOf(b.messages()[0] as unknown[]))

    // Another epoch, or an offset the stream never reached: not recovered, nothing replayed.
    const c = await RawPeer.open(rig.direct)
    expect((await c.reply(c.request(FrameType.SUBSCRIBE, 1, '"feed","k",[1,"another-epoch"]')))[3]).toEqual([
      5,
      epoch,
      false,
    ])
    const d = await RawPeer.open(rig.direct)
    expect((await d.reply(d.request(FrameType.SUBSCRIBE, 1, `"feed","k",[9,"${epoch}"]`)))[3]).toEqual([
      5,
      epoch,
      false,
    ])
    // Each key has its own stream: another key's epoch means nothing there.
    const other = await d.reply(d.request(FrameType.SUBSCRIBE, 2, `"feed","j",[0,"${epoch}"]`))
    expect(other[3]).toEqual([0, expect.any(String), false])
    expect((other[3] as unknown[])[1]).not.toBe(epoch)
    expect(c.messages()).toEqual([])
    expect(d.messages()).toEqual([])
  })
})

describe("history limits", () => {
  it("keeps topicHistorySize publications per key", async () => {
    const rig = await startRig({ topicHistorySize: 3 })
    const a = await RawPeer.open(rig.direct)
    const epoch = await a.join("k", null)
    for (const n of range(1, 5)) rig.publish("k", n)
    // Offsets 3, 4 and 5 are kept: from 2 is recovered, from 1 is not.
    const b = await RawPeer.open(rig.direct)
    expect(await b.subscribe("k", [2, epoch])).toEqual([2, epoch, true])
    await waitFor(() => b.messages().length === 3, 5000, "the replay")
    expect(b.messages().map((m) => [m[4], m[5]])).toEqual([
      [3, 3],
      [4, 4],
      [5, 5],
    ])
    const c = await RawPeer.open(rig.direct)
    expect(await c.subscribe("k", [1, epoch])).toEqual([5, epoch, false])
  })

  it("drops publications older than topicHistoryTtlMs, and forgets an idle key (a new epoch)", async () => {
    const ttl = 200
    const rig = await startRig({ topicHistoryTtlMs: ttl })
    const a = await RawPeer.open(rig.direct)
    const epoch = await a.join("k", null)
    rig.publish("k", 1)
    const at = Date.now()
    const b = await RawPeer.open(rig.direct)
    expect(await b.subscribe("k", [0, epoch])).toEqual([0, epoch, true])
    await waitFor(() => Date.now() > at + ttl, ttl + 1000, "the publication to expire")
    const c = await RawPeer.open(rig.direct)
    // Expired, but the key has subscribers: same epoch, not recovered; from the head, nothing missed.
    expect(await c.subscribe("k", [0, epoch])).toEqual([1, epoch, false])
    expect(await c.subscribe("k2", null)).toEqual([0, expect.any(String), true])
    const d = await RawPeer.open(rig.direct)
    expect(await d.subscribe("k", [1, epoch])).toEqual([1, epoch, true])

    // Everyone leaves. Within the TTL the key is still known...
    for (const peer of [a, b, c, d]) peer.unsubscribe("k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 0, 5000, "the unsubscriptions")
    const e = await RawPeer.open(rig.direct)
    expect(await e.subscribe("k", [1, epoch])).toEqual([1, epoch, true])
    e.unsubscribe("k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 0, 5000, "the unsubscription")
    const left = Date.now()
    // ...and a TTL after the last one left, it is forgotten: its memory is freed and its epoch is gone.
    await waitFor(() => Date.now() > left + ttl + 50, ttl + 1000, "the idle key to be forgotten")
    const f = await RawPeer.open(rig.direct)
    const fresh = (await f.subscribe("k", [1, epoch])) as [number, string, boolean]
    expect(fresh[0]).toBe(0)
    expect(fresh[1]).not.toBe(epoch)
    expect(fresh[2]).toBe(false)
  })

  it("topicHistorySize 0 keeps no history: confirmed with null, no offsets, and a renewal reports the gap", async () => {
    const rig = await startRig({ topicHistorySize: 0 })
    const a = await RawPeer.open(rig.direct)
    expect(await a.subscribe("k", [0, "e"])).toBeNull()
    rig.publish("k", 1)
    await waitFor(() => a.messages().length === 1, 5000, "the message")
    expect(a.messages()[0]).toHaveLength(5)

    const { client, errors } = startClient(rig)
    const feed = follow(client, "k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 2, 5000, "the subscription")
    await loseSession(rig)
    rig.proxy.stall(false)
    await waitFor(() => feed.recoveries.length === 1, 10_000, "the renewal")
    expect(feed.recoveries).toEqual([{ recovered: false }])
    expect(errors.map((e) => e.code)).toContain("TOPIC_GAP")
  })

  it("does not replay more than the session's replay buffer takes: recovered false instead of an overflow", async () => {
    const rig = await startRig({ maxReplayFrames: 20 })
    const a = await RawPeer.open(rig.direct)
    const epoch = await a.join("k", null)
    // Its only subscriber leaves: the key keeps its history for the TTL, with nobody to overflow.
    a.unsubscribe("k")
    await waitFor(() => rig.server.topics.feed("k").subscribers === 0, 5000, "the unsubscription")
    for (const n of range(1, 30)) rig.publish("k", n)
    const b = await RawPeer.open(rig.direct)
    expect(await b.subscribe("k", [0, epoch])).toEqual([30, epoch, false])
    const c = await RawPeer.open(rig.direct)
    expect(await c.subscribe("k", [15, epoch])).toEqual([15, epoch, true])
    await waitFor(() => c.messages().length === 15, 5000, "the replay")
    expect(rig.ended).toEqual([])
  })
})

/** A hand-written protocol speaker over WebSocket: what another implementation, or an attacker, sends. */
class RawPeer {
  readonly frames: unknown[][] = []
  readonly notices: unknown[][] = []
  closed: number | undefined
  private seq = 1
  private id = 1000

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as unknown[]
      if (frame[0] === FrameType.NOTICE) this.notices.push(frame)
      this.frames.push(frame)
      // Acknowledges every data frame at once, as a client should (soon), so the server's buffer stays empty.
      if (typeof frame[0] === "number" && frame[0] >= 1 && frame[0] <= 12) ws.send(control.ack(frame[1] as number))
    })
    ws.on("close", (code) => (this.closed = code))
    ws.on("error", () => {})
  }

  static async open(url: string): Promise<RawPeer> {
    const ws = new WebSocket(url.replace("http:", "ws:"))
    const peer = new RawPeer(ws)
    cleanup.push(() => ws.terminate())
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve())
      ws.once("error", reject)
    })
    ws.send(control.hello(1, null, 0))
    await waitFor(() => peer.frames.some((f) => f[0] === FrameType.WELCOME), 3000, "WELCOME")
    return peer
  }

  get nextSeq(): number {
    return this.seq
  }

  raw(text: string): void {
    this.ws.send(text)
  }

  /** Sends `[type,seq,id,<rest>]`, `rest` as raw JSON text; returns the id. */
  request(type: number, id: number, rest: string): number {
    this.ws.send(`[${type},${this.seq++},${id},${rest}]`)
    return id
  }

  async reply(id: number): Promise<unknown[]> {
    const isReply = (f: unknown[]) => (f[0] === FrameType.RESULT || f[0] === FrameType.ERROR) && f[2] === id
    await waitFor(() => this.frames.some(isReply), 3000, `the reply to ${id}`)
    return this.frames.find(isReply) as unknown[]
  }

  /** Subscribes to `feed(key)` from `since`; the confirmation (the RESULT's output). */
  async subscribe(key: string, since: readonly [number, string] | null): Promise<unknown> {
    const reply = await this.reply(
      this.request(FrameType.SUBSCRIBE, this.id++, `"feed",${JSON.stringify(key)},${JSON.stringify(since)}`),
    )
    expect(reply[0]).toBe(FrameType.RESULT)
    return reply[3]
  }

  /** Subscribes from now; the key's epoch. */
  async join(key: string, since: null): Promise<string> {
    const confirmation = (await this.subscribe(key, since)) as [number, string, boolean]
    return confirmation[1]
  }

  unsubscribe(key: string): void {
    this.ws.send(`[${FrameType.UNSUBSCRIBE},${this.seq++},"feed",${JSON.stringify(key)}]`)
  }

  messages(): unknown[][] {
    return this.frames.filter((f) => f[0] === FrameType.MESSAGE)
  }

  async notice(count: number): Promise<unknown[]> {
    await waitFor(() => this.notices.length >= count, 3000, `notice ${count}`)
    return this.notices[count - 1] as unknown[]
  }
}
