import { createClient } from "@switchyard/client-browser/all"
import { control, FrameType, localOffer, MAX_CANDIDATE_LENGTH, MAX_SDP_LENGTH } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, type Server } from "@switchyard/server-node"
import { CLOSE_GRACE_MS, CLOSING_MESSAGE } from "@switchyard/webrtc-data"
import { type WebRtcServerOptions, webrtcServer } from "@switchyard/webrtc-data/server"
import { RTCPeerConnection as NodePeerConnection } from "node-datachannel/polyfill"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { ChannelNetwork, type PeerClose } from "./support/channelNetwork.ts"
import { connected } from "./support/harnesses.ts"

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/**
 * The server's peer connections, counted: node-datachannel's `RTCPeerConnection` (a ChannelNetwork's, which
 * records why each peer connection closed), recording each peer made, each one closed, and each remote
 * candidate handed to it.
 */
class CountedPeers {
  private readonly network = new ChannelNetwork()
  readonly made: NodePeerConnection[] = []
  readonly closed = new Set<NodePeerConnection>()
  readonly candidates: string[] = []
  readonly RTCPeerConnection: typeof NodePeerConnection

  constructor() {
    const peers = this
    this.RTCPeerConnection = class extends peers.network.RTCPeerConnection {
      constructor(configuration?: ConstructorParameters<typeof NodePeerConnection>[0]) {
        super(configuration)
        peers.made.push(this)
      }
      override close(): void {
        peers.closed.add(this)
        super.close()
      }
      override addIceCandidate(candidate?: Parameters<NodePeerConnection["addIceCandidate"]>[0]): Promise<void> {
        peers.candidates.push(candidate?.candidate ?? "")
        return super.addIceCandidate(candidate)
      }
    }
  }

  /** Peers made and not closed. */
  get open(): number {
    return this.made.filter((p) => !this.closed.has(p)).length
  }

  /** Why each peer connection closed, in order (`ChannelNetwork.closes`). */
  get closes(): readonly PeerClose[] {
    return this.network.closes
  }
}

/** A raw protocol speaker on WebSocket: HELLO by hand, numbered data frames, ACKs for what it receives. */
class RawSession {
  readonly frames: unknown[][] = []
  closed: { code: number; reason: string } | undefined
  private seq = 1
  private received = 0
  private nextId = 1

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as unknown[]
      this.frames.push(frame)
      const type = frame[0]
      // Data frames (types 1 to 13) are numbered: acknowledge each, as a client must for replay to end.
      if (typeof type === "number" && type >= 1 && type <= 13 && frame[1] === this.received + 1) {
        this.received++
        if (ws.readyState === WebSocket.OPEN) ws.send(control.ack(this.received))
      }
    })
    ws.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }))
    ws.on("error", () => {})
  }

  static async open(url: string): Promise<RawSession> {
    const ws = new WebSocket(url.replace("http:", "ws:"))
    const raw = new RawSession(ws)
    cleanup.push(() => ws.terminate())
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve())
      ws.once("error", reject)
    })
    ws.send(control.hello(1, null, 0))
    await waitFor(() => raw.frames.some((f) => f[0] === FrameType.WELCOME), 3000, "WELCOME")
    return raw
  }

  /** Sends a well-formed SIGNAL with the next sequence number. */
  signal(attempt: number, kind: string, data: unknown): void {
    this.ws.send(JSON.stringify([FrameType.SIGNAL, this.seq++, attempt, kind, data]))
  }

  /**
   * Sends `[13,<seq>,<rest>]` with the next sequence number, without using it up: the server refuses a
   * malformed frame with a NOTICE and does not count it.
   */
  malformed(rest: string): void {
    this.ws.send(`[${FrameType.SIGNAL},${this.seq},${rest}]`)
  }

  /** An RPC round trip: once it is answered, the server has handled every frame sent before it. */
  async add(a: number, b: number): Promise<unknown> {
    const id = this.nextId++
    this.ws.send(JSON.stringify([FrameType.CALL, this.seq++, id, "add", { a, b }]))
    await waitFor(() => this.frames.some((f) => f[0] === FrameType.RESULT && f[2] === id), 3000, `RESULT ${id}`)
    return this.frames.find((f) => f[0] === FrameType.RESULT && f[2] === id)?.[3]
  }

  bye(): void {
    this.ws.send(control.bye("CLIENT_CLOSED", "done"))
  }

  /** The session token from WELCOME, to resume the session on another link. */
  get token(): string {
    return this.frames.find((f) => f[0] === FrameType.WELCOME)?.[2] as string
  }

  get notices(): unknown[][] {
    return this.frames.filter((f) => f[0] === FrameType.NOTICE)
  }

  async notice(count: number): Promise<unknown[]> {
    await waitFor(() => this.notices.length >= count, 3000, `NOTICE ${count}`)
    return this.notices[count - 1] as unknown[]
  }

  /** The server's SIGNALs for one attempt, as `[kind, data]`. */
  signals(attempt: number): Array<[string, unknown]> {
    return this.frames
      .filter((f) => f[0] === FrameType.SIGNAL && f[2] === attempt)
      .map((f) => [f[3] as string, f[4]] as [string, unknown])
  }

  /** Waits for the server's signal of `kind` for `attempt` and returns its data. */
  async signalled(attempt: number, kind: string, timeoutMs = 5000): Promise<unknown> {
    await waitFor(() => this.signals(attempt).some(([k]) => k === kind), timeoutMs, `${kind} for attempt ${attempt}`)
    return this.signals(attempt).find(([k]) => k === kind)?.[1]
  }
}

/** An SDP offer from a real node-datachannel peer with a `switchyard` channel, its candidates left out. */
async function realOffer(): Promise<{ type: "offer"; sdp: string }> {
  const peer = new NodePeerConnection({ iceServers: [] })
  cleanup.push(() => peer.close())
  peer.createDataChannel("switchyard", { ordered: true })
  return { type: "offer", sdp: await localOffer(peer) }
}

/**
 * A real peer on a raw session's signalling, with the signals in the bundled client's order, and its
 * session channel once open. `received` collects what the server sends on it.
 */
async function openChannel(raw: RawSession, attempt: number) {
  const peer = new NodePeerConnection({ iceServers: [] })
  cleanup.push(() => peer.close())
  const channel = peer.createDataChannel("switchyard", { ordered: true })
  const received: string[] = []
  channel.onmessage = (event) => void received.push(String(event.data))
  const local: unknown[] = []
  peer.onicecandidate = (event) => {
    if (event.candidate) local.push({ candidate: event.candidate.candidate.replace(/^a=/, ""), sdpMid: "0" })
  }
  raw.signal(attempt, "offer", { type: "offer", sdp: await localOffer(peer) })
  await raw.signalled(attempt, "answer")
  await peer.setRemoteDescription(
    raw.signals(attempt).find(([kind]) => kind === "answer")?.[1] as { type: "answer"; sdp: string },
  )
  for (const [kind, data] of raw.signals(attempt))
    if (kind === "candidate" && data) await peer.addIceCandidate(data as never).catch(() => {})
  for (const candidate of local) raw.signal(attempt, "candidate", candidate)
  await waitFor(() => channel.readyState === "open", 5000, "the data channel")
  return { channel, received }
}

/** `sdp` with an SDP attribute line appended so that it is exactly `length` characters long. */
function padded(sdp: string, length: number): string {
  const line = (fill: number) => `a=x-pad:${"p".repeat(fill)}\r\n`
  const fill = length - sdp.length - line(0).length
  if (fill < 0) throw new Error("the SDP is already longer")
  return sdp + line(fill)
}

interface Started {
  readonly server: Server<TestContract>
  readonly url: string
  readonly peers: CountedPeers
}

async function start(
  options: { webrtc?: Omit<WebRtcServerOptions, "RTCPeerConnection"> | false; resumeWindowMs?: number } = {},
): Promise<Started> {
  const peers = new CountedPeers()
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    limits: { resumeWindowMs: options.resumeWindowMs ?? 10_000 },
    onError: () => {},
    ...(options.webrtc === false
      ? {}
      : // node-datachannel's constructor takes mutable `RTCIceServer`s, the option's type readonly ones.
        { webrtc: webrtcServer({ ...options.webrtc, RTCPeerConnection: peers.RTCPeerConnection as never }) }),
  })
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { server, url, peers }
}

/**
 * A well-behaved WebSocket client beside the hostile one: RPCs and a topic, before and after. It must
 * notice nothing: no state change, no lost message.
 */
async function bystander({ server, url }: Started) {
  const client = createClient(TestContract, {
    url,
    WebSocket,
    transports: ["websocket"],
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  })
  cleanup.push(() => client.close())
  await connected(client)
  let states = 0
  client.on("state", () => states++)
  const key = "bystander"
  const room = () => client.topics.room(key)
  const say = (text: string) => ({ user: "server", text, at: new Date(0) })
  const heard: string[] = []
  room().subscribe((m) => heard.push(m.text))
  await waitFor(() => server.topics.room(key).subscribers === 1, 3000, "the bystander's subscription")
  expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
  server.topics.room(key).publish(say("before"))
  return {
    async stillFine() {
      expect(await client.rpc.add({ a: 20, b: 22 })).toBe(42)
      server.topics.room(key).publish(say("after"))
      await room().publish({ user: "bystander", text: "mine", at: new Date(1) })
      await waitFor(() => heard.length >= 3, 3000, "the bystander's messages")
      expect(heard).toEqual(["before", "after", "mine"])
      expect(states).toBe(0)
      expect(client.transport).toBe("websocket")
    },
  }
}

const invalidNotice = [FrameType.NOTICE, "INVALID_FRAME", `malformed frame of type ${FrameType.SIGNAL}`]

describe("hostile signalling to a WebRTC server", () => {
  it("refuses an SDP over MAX_SDP_LENGTH with a NOTICE and answers one of exactly that length", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const offer = await realOffer()
    raw.malformed(`1,"offer",${JSON.stringify({ type: "offer", sdp: padded(offer.sdp, MAX_SDP_LENGTH + 1) })}`)
    expect(await raw.notice(1)).toEqual(invalidNotice)
    expect(raw.closed).toBeUndefined()
    expect(started.peers.made.length).toBe(0)
    // The refused frame took no sequence number: the next frame, with the same number, is taken.
    raw.signal(1, "offer", { type: "offer", sdp: padded(offer.sdp, MAX_SDP_LENGTH) })
    expect(await raw.signalled(1, "answer")).toMatchObject({ type: "answer", sdp: expect.stringContaining("v=0") })
    expect(started.peers.made.length).toBe(1)
    expect(raw.notices.length).toBe(1)
    expect(await raw.add(2, 3)).toBe(5)
    await other.stillFine()
  })

  it("refuses a candidate line over MAX_CANDIDATE_LENGTH or an sdpMid over 64 characters, and takes one at the limit", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    raw.signal(1, "offer", await realOffer())
    await raw.signalled(1, "answer")
    const line = (length: number) => {
      const head = "candidate:1 1 UDP 2122317823 127.0.0.1 9 typ host generation 0 x-pad "
      return head + "p".repeat(length - head.length)
    }
    raw.malformed(`1,"candidate",${JSON.stringify({ candidate: line(MAX_CANDIDATE_LENGTH + 1), sdpMid: "0" })}`)
    expect(await raw.notice(1)).toEqual(invalidNotice)
    raw.malformed(`1,"candidate",${JSON.stringify({ candidate: line(100), sdpMid: "m".repeat(65) })}`)
    expect(await raw.notice(2)).toEqual(invalidNotice)
    const atLimit = line(MAX_CANDIDATE_LENGTH)
    raw.signal(1, "candidate", { candidate: atLimit, sdpMid: "0", sdpMLineIndex: 0 })
    expect(await raw.add(2, 3)).toBe(5)
    expect(started.peers.candidates).toEqual([atLimit])
    expect(raw.closed).toBeUndefined()
    expect(raw.notices.length).toBe(2)
    // The attempt goes on: nothing ended it.
    expect(raw.signals(1).some(([kind]) => kind === "end")).toBe(false)
    expect(started.peers.open).toBe(1)
    await other.stillFine()
  })

  it("refuses malformed SIGNALs with a NOTICE each; the session goes on and no attempt starts", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const { sdp } = await realOffer()
    // Sixteen: as many invalid frames as one connection may send (maxInvalidFrames) before it is closed.
    const cases = [
      // An unknown kind.
      `1,"pranswer",${JSON.stringify({ type: "pranswer", sdp })}`,
      // `type` that does not match the kind.
      `1,"offer",${JSON.stringify({ type: "answer", sdp })}`,
      // Missing or mistyped fields.
      `1,"offer",${JSON.stringify({ type: "offer" })}`,
      `1,"offer",${JSON.stringify({ sdp })}`,
      `1,"offer",null`,
      `1,"offer",${JSON.stringify(sdp)}`,
      `1,"candidate",{}`,
      `1,"candidate",[]`,
      `1,"candidate",{"candidate":5,"sdpMid":"0"}`,
      `1,"candidate",{"candidate":"candidate:1 1 UDP 1 127.0.0.1 9 typ host","sdpMLineIndex":-1}`,
      `1,"end"`,
      `1,"end",42`,
      `1,"end",${JSON.stringify("r".repeat(257))}`,
      // Attempt numbers that are not integers ≥ 1, and an extra element (after the transport, which a
      // SIGNAL may name).
      `0,"end","x"`,
      `"1","offer",${JSON.stringify({ type: "offer", sdp })}`,
      `1,"offer",${JSON.stringify({ type: "offer", sdp })},"webrtc","extra"`,
    ]
    for (const [i, rest] of cases.entries()) {
      raw.malformed(rest)
      expect(await raw.notice(i + 1)).toEqual(invalidNotice)
    }
    expect(raw.closed).toBeUndefined()
    expect(started.peers.made.length).toBe(0)
    expect(raw.frames.some((f) => f[0] === FrameType.SIGNAL)).toBe(false)
    // None of them used up the sequence number 1: a good offer with it is answered.
    raw.signal(1, "offer", { type: "offer", sdp })
    await raw.signalled(1, "answer")
    expect(started.peers.made.length).toBe(1)
    await other.stillFine()
  })

  it("ends an attempt the client answers: the server makes no offers", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const { sdp } = await realOffer()
    raw.signal(5, "answer", { type: "answer", sdp })
    expect(await raw.signalled(5, "end")).toBe("the server makes no offers")
    expect(started.peers.made.length).toBe(0)
    expect(raw.notices).toEqual([])
    expect(await raw.add(1, 1)).toBe(2)
    await other.stillFine()
  })

  it("ends an attempt beyond maxAttemptsPerSession, and takes a new one once an attempt ends", async () => {
    const started = await start({ webrtc: { maxAttemptsPerSession: 2 } })
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const offer = await realOffer()
    raw.signal(1, "offer", offer)
    raw.signal(2, "offer", offer)
    raw.signal(3, "offer", offer)
    expect(await raw.signalled(3, "end")).toBe("too many attempts")
    await raw.signalled(1, "answer")
    await raw.signalled(2, "answer")
    expect(started.peers.made.length).toBe(2)
    // Another session has attempts of its own.
    const second = await RawSession.open(started.url)
    second.signal(1, "offer", offer)
    await second.signalled(1, "answer")
    // Ending attempt 1 frees its place.
    raw.signal(1, "end", "giving up")
    await waitFor(() => started.peers.closed.has(started.peers.made[0] as NodePeerConnection), 3000, "attempt 1 closed")
    raw.signal(4, "offer", offer)
    await raw.signalled(4, "answer")
    expect(raw.signals(4).some(([kind]) => kind === "end")).toBe(false)
    expect(started.peers.made.length).toBe(4)
    expect(started.peers.open).toBe(3)
    await other.stillFine()
  })

  it("ends an offer whose attempt number is in use, and keeps the first attempt", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const offer = await realOffer()
    raw.signal(7, "offer", offer)
    raw.signal(7, "offer", offer)
    expect(await raw.signalled(7, "end")).toBe("attempt already started")
    expect(await raw.signalled(7, "answer")).toMatchObject({ type: "answer" })
    expect(await raw.add(1, 2)).toBe(3)
    expect(started.peers.made.length).toBe(1)
    expect(started.peers.open).toBe(1)
    expect(raw.signals(7).filter(([kind]) => kind === "end").length).toBe(1)
    await other.stillFine()
  })

  it("ends an attempt whose offer is garbage, releases its peer, and answers the next one", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    raw.signal(1, "offer", { type: "offer", sdp: "v=0\r\nthis is not a session description\r\n" })
    expect(await raw.signalled(1, "end")).toBe("could not answer the offer")
    await waitFor(() => started.peers.closed.size === 1, 3000, "the peer closed")
    expect(started.peers.made.length).toBe(1)
    // An offer without a fingerprint parses, and still cannot be answered.
    const { sdp } = await realOffer()
    raw.signal(2, "offer", { type: "offer", sdp: sdp.replace(/^a=fingerprint:.*\r\n/m, "") })
    expect(await raw.signalled(2, "end")).toBe("could not answer the offer")
    raw.signal(3, "offer", { type: "offer", sdp })
    await raw.signalled(3, "answer")
    expect(started.peers.open).toBe(1)
    expect(await raw.add(3, 4)).toBe(7)
    await other.stillFine()
  })

  it("takes at most maxCandidates candidates per attempt and ignores the rest", async () => {
    const maxCandidates = 3
    const started = await start({ webrtc: { maxCandidates } })
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const candidate = (i: number) => ({
      candidate: `candidate:${i} 1 UDP ${2122317823 - i} 127.0.0.1 ${9000 + i} typ host`,
      sdpMid: "0",
      sdpMLineIndex: 0,
    })
    raw.signal(1, "offer", await realOffer())
    // Some of these may come before the answer is made: they are kept and added after it.
    for (let i = 1; i <= 2 * maxCandidates; i++) raw.signal(1, "candidate", candidate(i))
    await raw.signalled(1, "answer")
    await waitFor(() => started.peers.candidates.length >= maxCandidates, 3000, "the candidates taken")
    for (let i = 2 * maxCandidates + 1; i <= 4 * maxCandidates; i++) raw.signal(1, "candidate", candidate(i))
    raw.signal(1, "candidate", null)
    expect(await raw.add(1, 1)).toBe(2)
    expect(started.peers.candidates).toEqual([1, 2, 3].map((i) => candidate(i).candidate))
    expect(raw.signals(1).some(([kind]) => kind === "end")).toBe(false)
    expect(started.peers.open).toBe(1)
    // The count is per attempt: a second attempt takes its own.
    raw.signal(2, "offer", await realOffer())
    raw.signal(2, "candidate", candidate(100))
    await raw.signalled(2, "answer")
    await waitFor(() => started.peers.candidates.length === maxCandidates + 1, 3000, "the second attempt's candidate")
    expect(started.peers.candidates.at(-1)).toBe(candidate(100).candidate)
    await other.stillFine()
  })

  it("drops an attempt whose channel has not opened after connectTimeoutMs", async () => {
    const connectTimeoutMs = 300
    const started = await start({ webrtc: { connectTimeoutMs, maxAttemptsPerSession: 1 } })
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    // A real offer whose peer never gets the answer and never sends a candidate: it cannot connect.
    const offer = await realOffer()
    const sent = performance.now()
    raw.signal(1, "offer", offer)
    await raw.signalled(1, "answer")
    await waitFor(() => started.peers.closed.size === 1, 5000, "the attempt dropped")
    expect(performance.now() - sent).toBeGreaterThanOrEqual(connectTimeoutMs - 5)
    // The client is told, so that it need not wait for its own probe to time out.
    await raw.signalled(1, "end")
    expect(raw.signals(1).at(-1)).toEqual(["end", "the channel did not open in time"])
    // The attempt no longer counts toward maxAttemptsPerSession.
    raw.signal(2, "offer", offer)
    await raw.signalled(2, "answer")
    expect(raw.signals(2).some(([kind]) => kind === "end")).toBe(false)
    expect(started.peers.made.length).toBe(2)
    expect(raw.closed).toBeUndefined()
    await other.stillFine()
  })
})

describe("attempts and the session's life", () => {
  it("drops every attempt when the client ends its session with BYE", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const offer = await realOffer()
    raw.signal(1, "offer", offer)
    raw.signal(2, "offer", offer)
    await raw.signalled(1, "answer")
    await raw.signalled(2, "answer")
    expect(started.peers.open).toBe(2)
    raw.bye()
    await waitFor(() => started.peers.closed.size === 2, 3000, "both attempts dropped")
    await waitFor(() => raw.closed !== undefined, 3000, "the connection closed")
    await other.stillFine()
  })

  it("keeps the attempts while a disconnected session may resume, and drops them after resumeWindowMs", async () => {
    const resumeWindowMs = 300
    const started = await start({ resumeWindowMs })
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    raw.signal(1, "offer", await realOffer())
    await raw.signalled(1, "answer")
    const cut = performance.now()
    raw.ws.terminate()
    await waitFor(() => started.peers.closed.size === 1, 5000, "the attempt dropped")
    expect(performance.now() - cut).toBeGreaterThanOrEqual(resumeWindowMs - 5)
    await other.stillFine()
  })

  it("drops the attempts when the server closes", async () => {
    const started = await start()
    const raw = await RawSession.open(started.url)
    raw.signal(1, "offer", await realOffer())
    await raw.signalled(1, "answer")
    expect(started.peers.open).toBe(1)
    await started.server.close()
    expect(started.peers.closed.size).toBe(1)
  })

  it("waits, when the server closes, until each client has closed its channel, or the grace period ends", async () => {
    // A client that closes its channel on the closing message: the server is closed once it has.
    const started = await start()
    const polite = await RawSession.open(started.url)
    const opened = await openChannel(polite, 1)
    opened.channel.send(JSON.stringify([FrameType.HELLO, 1, polite.token, 0]))
    await waitFor(() => opened.received.length > 0, 3000, "the WELCOME on the channel")
    opened.channel.onmessage = (event) => {
      opened.received.push(String(event.data))
      if (String(event.data).startsWith(CLOSING_MESSAGE)) opened.channel.close()
    }
    await started.server.close()
    expect(started.peers.open).toBe(0)
    // Let go because the client closed its channel, not because the grace period ran out.
    expect(started.peers.closes).toEqual(["after the remote closed the channel"])
    // The BYE went before the closing message, on the channel.
    const bye = opened.received.map((m) => (m.startsWith("[") ? (JSON.parse(m) as unknown[]) : m))
    expect(bye.at(-2)).toEqual([FrameType.BYE, "SERVER_CLOSED", "the server is shutting down"])
    expect(bye.at(-1)).toBe(`${CLOSING_MESSAGE}1001 SERVER_CLOSED`)

    // A client that never closes its channel: the server waits the grace period, then lets go.
    const second = await start()
    const rude = await RawSession.open(second.url)
    const other = await openChannel(rude, 1)
    other.channel.send(JSON.stringify([FrameType.HELLO, 1, rude.token, 0]))
    await waitFor(() => other.received.length > 0, 3000, "the WELCOME on the channel")
    const started2 = performance.now()
    await second.server.close()
    expect(performance.now() - started2).toBeGreaterThanOrEqual(CLOSE_GRACE_MS - 50)
    expect(second.peers.open).toBe(0)
    expect(second.peers.closes).toEqual(["on its own"])
  })
})

describe("signalling to a server without WebRTC", () => {
  it("ends every attempt: no signalled transport here", async () => {
    const started = await start({ webrtc: false })
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    raw.signal(1, "offer", await realOffer())
    raw.signal(2, "candidate", { candidate: "candidate:1 1 UDP 1 127.0.0.1 9 typ host", sdpMid: "0" })
    expect(await raw.signalled(1, "end")).toBe("no signalled transport here")
    expect(await raw.signalled(2, "end")).toBe("no signalled transport here")
    expect(started.peers.made.length).toBe(0)
    expect(await raw.add(2, 2)).toBe(4)
    expect(raw.notices).toEqual([])
    await other.stillFine()
  })
})

describe("early candidates", () => {
  it("skips a candidate that came before the answer and that the peer cannot use; the attempt goes on", async () => {
    const peers = new CountedPeers()
    // A peer slow to take the offer, so that the candidate sent with it is kept until the answer is made.
    const SlowPeer = class extends peers.RTCPeerConnection {
      override async setRemoteDescription(description: Parameters<NodePeerConnection["setRemoteDescription"]>[0]) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        return super.setRemoteDescription(description)
      }
    }
    const server = createServer(
      TestContract,
      testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>,
      {
        onError: () => {},
        webrtc: webrtcServer({ RTCPeerConnection: SlowPeer as never }),
      },
    )
    const { url } = await server.listen(0, "127.0.0.1")
    cleanup.push(() => server.close())
    const raw = await RawSession.open(url)
    raw.signal(1, "offer", await realOffer())
    raw.signal(1, "candidate", { candidate: "not a candidate", sdpMid: "0" })
    await raw.signalled(1, "answer")
    await waitFor(() => peers.candidates.length === 1, 3000, "the early candidate tried")
    expect(await raw.add(1, 1)).toBe(2)
    expect(raw.signals(1).some(([kind]) => kind === "end")).toBe(false)
    expect(peers.open).toBe(1)
  })
})

describe("a data channel carries only the session that set it up", () => {
  it("refuses a HELLO for a new session on a channel a session signalled", async () => {
    const started = await start()
    const other = await bystander(started)
    const raw = await RawSession.open(started.url)
    const { channel, received } = await openChannel(raw, 1)
    // No token would open a new session past the origin check, the connection bound and `authenticate`.
    channel.send(JSON.stringify([FrameType.HELLO, 1, null, 0]))
    await waitFor(() => received.length > 1, 3000, "the server's answer")
    expect(JSON.parse(received[0] ?? "null")).toEqual([
      FrameType.BYE,
      "HANDSHAKE_REQUIRED",
      "this link carries only the session that set it up",
    ])
    // Then the closing message: the server waits for this side to close the channel.
    expect(received[1]).toBe(`${CLOSING_MESSAGE}4002 HANDSHAKE_REQUIRED`)
    // The bystander's session and the raw one: no third.
    expect(started.server.sessionCount).toBe(2)
    await other.stillFine()
  })

  it("counts a closed attempt until the client closes its channel, or for CLOSE_GRACE_MS if it never does", async () => {
    const started = await start({ webrtc: { maxAttemptsPerSession: 1 } })
    const raw = await RawSession.open(started.url)
    // This side reads the closing message and never closes the channel.
    const { channel, received } = await openChannel(raw, 1)
    // Before the HELLO that the server refuses: its grace period starts after this, whenever the closing
    // message reaches this side.
    const refused = performance.now()
    channel.send(JSON.stringify([FrameType.HELLO, 1, null, 0]))
    await waitFor(() => received.length > 1, 3000, "the closing message")
    // The server's peer connection waits for the channel to close: the attempt still counts.
    expect(started.peers.open).toBe(1)
    raw.signal(2, "offer", await realOffer())
    expect(await raw.signalled(2, "end")).toBe("too many attempts")
    await waitFor(() => started.peers.open === 0, CLOSE_GRACE_MS + 1000, "the peer connection's release")
    expect(performance.now() - refused).toBeGreaterThanOrEqual(CLOSE_GRACE_MS - 50)
    expect(started.peers.closes).toEqual(["on its own"])
    raw.signal(3, "offer", await realOffer())
    await raw.signalled(3, "answer")

    // A client that closes its channel on the closing message frees the attempt at once.
    const second = await start({ webrtc: { maxAttemptsPerSession: 1 } })
    const polite = await RawSession.open(second.url)
    const opened = await openChannel(polite, 1)
    opened.channel.onmessage = (event) => {
      if (String(event.data).startsWith(CLOSING_MESSAGE)) opened.channel.close()
    }
    opened.channel.send(JSON.stringify([FrameType.HELLO, 1, null, 0]))
    await waitFor(() => second.peers.open === 0, CLOSE_GRACE_MS + 2000, "the peer connection's release")
    // Freed because the client closed its channel, not because the grace period ran out.
    expect(second.peers.closes).toEqual(["after the remote closed the channel"])
    polite.signal(2, "offer", await realOffer())
    await polite.signalled(2, "answer")
  })
})
