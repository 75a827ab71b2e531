import { type Client, createClient, type PeerConnection } from "@switchyard/client-browser/all"
import { peers as clientPeers } from "@switchyard/client-browser/peers"
import { MAX_SDP_LENGTH } from "@switchyard/core"
import { rejection, TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, type PeerOptions, type ServerLimits } from "@switchyard/server-node"
import { PeerConnection as NativePeer } from "node-datachannel"
import { RTCPeerConnection } from "node-datachannel/polyfill"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

type Auth = { readonly user: string }
type Conn = PeerConnection<TestContract["peers"]>

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** Every RTCPeerConnection the clients of this file made, bound to loopback (docs/webrtc-implementations.md). */
const made: RTCPeerConnection[] = []
let names = 0
class LoopbackPeer extends RTCPeerConnection {
  constructor(config: { iceServers: object[] }) {
    super({
      ...config,
      peerConnection: new NativePeer(`peer-${++names}`, { iceServers: [], bindAddress: "127.0.0.1" }),
    } as never)
    made.push(this)
  }
}

async function start(peers: PeerOptions<Auth> | undefined, limits: Partial<ServerLimits> = {}) {
  const server = createServer(
    TestContract,
    testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract, Auth>,
    {
      onError: () => {},
      limits,
      authenticate: (request) => ({ user: new URL(request.url ?? "/", "http://x").searchParams.get("user") ?? "" }),
      ...(peers ? { peers } : {}),
    },
  )
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { server, url }
}

async function client(url: string, user: string, direct = true): Promise<Client<TestContract>> {
  const c = createClient(TestContract, {
    url: `${url}?user=${user}`,
    WebSocket,
    transports: ["websocket"],
    reconnect: fastReconnect,
    negotiation: { storage: freshStorage() },
    peers: clientPeers({ RTCPeerConnection: LoopbackPeer as never, direct }),
  })
  cleanup.push(() => c.close())
  await waitFor(() => c.state === "connected", 5000, `${user} to connect`)
  return c
}

/** A connection from `a` to `b`, and `b`'s side of it. */
async function pair(a: Client<TestContract>, b: Client<TestContract>): Promise<[Conn, Conn]> {
  const incoming = new Promise<Conn>((resolve) => {
    const off = b.peers.onConnection((conn) => {
      off()
      resolve(conn)
    })
  })
  const mine = await a.peers.connect(b.peers.id as string)
  return [mine, await incoming]
}

const allowAll: PeerOptions<Auth> = { authorize: () => true }

/** Waits for both sides to go direct; a timeout says where each RTCPeerConnection got to. */
async function direct(ab: Conn, ba: Conn, since: number): Promise<void> {
  try {
    await waitFor(() => ab.path === "direct" && ba.path === "direct", 10_000, "the direct path")
  } catch (error) {
    const states = made
      .slice(since)
      .map((pc) => `${pc.connectionState}/${pc.iceConnectionState}/${pc.signalingState}/${pc.iceGatheringState}`)
    throw new Error(`${(error as Error).message}: paths ${ab.path}/${ba.path}, peers ${states.join(", ")}`)
  }
}

/**
 * A client written from docs/protocol.md alone, over a raw WebSocket: it sends whatever frames a test
 * gives it, as a hostile client would.
 */
async function rawClient(url: string, user: string) {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}?user=${user}`)
  const frames: unknown[][] = []
  ws.on("message", (data) => frames.push(JSON.parse(String(data)) as unknown[]))
  await new Promise((resolve, reject) => {
    ws.once("open", resolve)
    ws.once("error", reject)
  })
  cleanup.push(() => ws.close())
  ws.send(JSON.stringify([20, 1, null, 0]))
  await waitFor(() => frames.some((f) => f[0] === 21), 5000, "WELCOME")
  const welcome = frames.find((f) => f[0] === 21) as unknown[]
  let seq = 0
  const peerFrames = () => frames.filter((f) => f[0] === 14)
  return {
    peerId: welcome[8] as string,
    send: (conn: number, op: string, data: unknown) => ws.send(JSON.stringify([14, ++seq, conn, op, data])),
    peerFrames,
    /** The next PEER frame with `op` after the first `skip` of them. */
    async next(op: string, skip = 0): Promise<unknown[]> {
      await waitFor(() => peerFrames().filter((f) => f[3] === op).length > skip, 5000, `a PEER ${op}`)
      return peerFrames().filter((f) => f[3] === op)[skip] as unknown[]
    },
  }
}

const at = new Date("2026-01-02T03:04:05.678Z")

describe("client.peers (Node clients, Node server)", () => {
  it("gives each session a public peer id that is neither its id nor its token", async () => {
    const { url } = await start(allowAll)
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    expect(a.peers.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(a.peers.id).not.toBe(b.peers.id)
    expect(a.peers.id).not.toBe(a.sessionId)
  })

  it("keeps the peer id and the connection across a resume, and delivers what was sent meanwhile", async () => {
    const { url } = await start({ ...allowAll, direct: false })
    const proxy = await TcpProxy.start(Number(new URL(url).port))
    cleanup.push(() => proxy[Symbol.asyncDispose]())
    const a = await client(url.replace(/:\d+\//, `:${proxy.port}/`), "ann")
    const b = await client(url, "bob")
    const id = a.peers.id
    const [ab, ba] = await pair(a, b)
    const sessions: boolean[] = []
    a.on("session", (info) => sessions.push(info.recovered))
    const atA: string[] = []
    ab.channels.note.subscribe((m) => atA.push(m))
    proxy.drop()
    ba.channels.note.send("while ann was away")
    ab.channels.note.send("queued by ann")
    const atB: string[] = []
    ba.channels.note.subscribe((m) => atB.push(m))
    await waitFor(() => atA.length === 1 && atB.length === 1, 5000, "both notes after the resume")
    expect(sessions).toEqual([true])
    expect(a.peers.id).toBe(id)
    expect([atA, atB]).toEqual([["while ann was away"], ["queued by ann"]])
    expect([ab.state, ba.state]).toEqual(["open", "open"])
  })

  it("ends a connection whose sender outpaces its receiver, not the receiver's session", async () => {
    const { url } = await start({ ...allowAll, direct: false }, { maxReplayFrames: 40 })
    const proxy = await TcpProxy.start(Number(new URL(url).port))
    cleanup.push(() => proxy[Symbol.asyncDispose]())
    const a = await client(url, "ann")
    const b = await client(url.replace(/:\d+\//, `:${proxy.port}/`), "bob")
    const [ab, ba] = await pair(a, b)
    const closed: string[] = []
    ab.on("close", (e) => closed.push(`a:${e.code}`))
    ba.on("close", (e) => closed.push(`b:${e.code}`))
    const sessionId = b.sessionId
    // Bob stops reading (and acknowledging); Ann keeps sending.
    proxy.stall(true)
    let sent = 0
    while (ab.state === "open" && sent < 200) {
      ab.channels.note.send(`n${++sent}`)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    await waitFor(() => closed.includes("a:QUEUE_FULL"), 5000, "ann's side to close")
    expect(sent).toBeLessThan(200)
    proxy.stall(false)
    await waitFor(() => closed.includes("b:QUEUE_FULL"), 5000, "bob's side to close")
    expect(b.sessionId).toBe(sessionId)
    expect(b.state).toBe("connected")
  })

  it("relays contract-typed messages both ways when the server keeps peers on its relay", async () => {
    const { url } = await start({ ...allowAll, direct: false })
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    const [ab, ba] = await pair(a, b)
    expect(ab.peerId).toBe(b.peers.id)
    expect(ba.peerId).toBe(a.peers.id)
    const atB: unknown[] = []
    const atA: string[] = []
    ba.channels.cursor.subscribe((m) => atB.push(m))
    ab.channels.note.subscribe((m) => atA.push(m))
    for (let i = 0; i < 50; i++) ab.channels.cursor.send({ x: i, y: 2 * i, at })
    ba.channels.note.send("hello ann")
    await waitFor(() => atB.length === 50 && atA.length === 1, 5000, "the relayed messages")
    expect(atB).toEqual(Array.from({ length: 50 }, (_, i) => ({ x: i, y: 2 * i, at })))
    expect((atB[0] as { at: unknown }).at).toBeInstanceOf(Date)
    expect(atA).toEqual(["hello ann"])
    expect([ab.path, ba.path]).toEqual(["relay", "relay"])
    // A message that breaks the contract never leaves the sender.
    expect(() => ab.channels.cursor.send({ x: "1" } as never)).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT" }),
    )
  })

  it("keeps messages that come before the first subscriber for it", async () => {
    const { url } = await start({ ...allowAll, direct: false })
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    b.peers.onConnection((conn) => {
      for (const text of ["one", "two", "three"]) conn.channels.note.send(text)
      // One message more, on another channel: a connection delivers its messages in the order they were
      // sent, whatever their channel, so once this one is in, the three notes are in too.
      conn.channels.cursor.send({ x: 1, y: 1, at })
    })
    const ab = await a.peers.connect(b.peers.id as string)
    const cursors: unknown[] = []
    ab.channels.cursor.subscribe((m) => cursors.push(m))
    await waitFor(() => cursors.length === 1, 5000, "the message sent after the notes")
    const notes: string[] = []
    ab.channels.note.subscribe((m) => notes.push(m))
    expect(notes).toEqual(["one", "two", "three"])
    // Only the first subscriber gets them.
    const second: string[] = []
    ab.channels.note.subscribe((m) => second.push(m))
    expect(second).toEqual([])
  })

  it("moves to a direct data channel and reports the path on both sides", async () => {
    const { url } = await start(allowAll)
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    const before = made.length
    const [ab, ba] = await pair(a, b)
    const paths: string[] = []
    ab.on("path", (p) => paths.push(`a:${p}`))
    ba.on("path", (p) => paths.push(`b:${p}`))
    await direct(ab, ba, before)
    expect(paths.sort()).toEqual(["a:direct", "b:direct"])
    const atB: unknown[] = []
    const atA: string[] = []
    ba.channels.cursor.subscribe((m) => atB.push(m))
    ab.channels.note.subscribe((m) => atA.push(m))
    for (let i = 0; i < 100; i++) ab.channels.cursor.send({ x: i, y: 1, at })
    ba.channels.note.send("over the channel")
    await waitFor(() => atB.length === 100 && atA.length === 1, 5000, "the direct messages")
    expect(atB).toEqual(Array.from({ length: 100 }, (_, i) => ({ x: i, y: 1, at })))
    expect(atA).toEqual(["over the channel"])
  })

  it("falls back to the relay when the direct path closes mid-traffic, nothing lost or repeated", async () => {
    const { url } = await start(allowAll)
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    const before = made.length
    const [ab, ba] = await pair(a, b)
    await direct(ab, ba, before)
    const paths: string[] = []
    ab.on("path", (p) => paths.push(p))
    const received: number[] = []
    ba.channels.cursor.subscribe((m) => received.push(m.x))
    let sent = 0
    const burst = async (count: number) => {
      for (let i = 0; i < count; i++) {
        ab.channels.cursor.send({ x: ++sent, y: 0, at })
        if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
    }
    await burst(500)
    // Cut the data channel under traffic: the caller's peer connection goes away.
    made[before]?.close()
    await burst(500)
    await waitFor(() => ab.path === "relay", 5000, "the fall back to the relay")
    await burst(200)
    await waitFor(() => received.length >= sent, 10_000, "every message")
    expect(received).toEqual(Array.from({ length: sent }, (_, i) => i + 1))
    expect(paths).toEqual(["relay"])
    expect(ba.state).toBe("open")
  })

  it("refuses peer connections on a server without the peers option", async () => {
    const { url } = await start(undefined)
    const a = await client(url, "ann")
    expect(a.peers.id).toBeUndefined()
    const error = await rejection(a.peers.connect("AAAAAAAAAAAAAAAAAAAAAA"))
    expect(error.code).toBe("PEER_FORBIDDEN")
  })

  it("asks authorize, with both sides' peer ids and auth, and refuses when it says no", async () => {
    const asked: Array<[string, string, string, string]> = []
    const { url } = await start({
      authorize: ({ from, to }) => {
        asked.push([from.auth.user, to.auth.user, from.peerId, to.peerId])
        return Promise.resolve(to.auth.user !== "carol")
      },
    })
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    const c = await client(url, "carol")
    c.peers.onConnection(() => {
      throw new Error("carol must not hear of it")
    })
    const [ab] = await pair(a, b)
    expect(ab.state).toBe("open")
    expect((await rejection(a.peers.connect(c.peers.id as string))).code).toBe("PEER_FORBIDDEN")
    expect(asked).toEqual([
      ["ann", "bob", a.peers.id, b.peers.id],
      ["ann", "carol", a.peers.id, c.peers.id],
    ])
    expect((await rejection(a.peers.connect("nobody-has-this-id"))).code).toBe("PEER_NOT_FOUND")
    expect((await rejection(a.peers.connect(a.peers.id as string))).code).toBe("PEER_NOT_FOUND")
  })

  it("refuses a connection the other client does not listen for, and one past the limit", async () => {
    const { url } = await start(allowAll, { maxPeerConnections: 1 })
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    const c = await client(url, "carol")
    expect((await rejection(a.peers.connect(b.peers.id as string))).code).toBe("PEER_REJECTED")
    await pair(a, b)
    c.peers.onConnection(() => {})
    expect((await rejection(a.peers.connect(c.peers.id as string))).code).toBe("LIMIT_EXCEEDED")
  })

  it("closes both sides: by either client, and when a session ends", async () => {
    const { url } = await start({ ...allowAll, direct: false })
    const a = await client(url, "ann")
    const b = await client(url, "bob")
    const [ab, ba] = await pair(a, b)
    const closed: string[] = []
    ba.on("close", (e) => closed.push(e.code))
    ab.close()
    await waitFor(() => closed.length === 1, 5000, "bob to hear the close")
    expect(closed).toEqual(["PEER_CLOSED"])
    expect(() => ab.channels.note.send("late")).toThrow(expect.objectContaining({ code: "PEER_CLOSED" }))
    const [ab2, ba2] = await pair(a, b)
    ab2.on("close", (e) => closed.push(e.code))
    await b.close()
    await waitFor(() => closed.length === 2, 5000, "ann to hear bob's session end")
    expect(closed).toEqual(["PEER_CLOSED", "PEER_CLOSED"])
    expect([ab2.state, ba2.state]).toEqual(["closed", "closed"])
  })
})

describe("client.peers: what the server refuses", () => {
  it("validates relayed payloads: an error to the sender, the receiver undisturbed", async () => {
    const { url } = await start({ ...allowAll, direct: false })
    const raw = await rawClient(url, "mallory")
    const b = await client(url, "bob")
    const conns: Conn[] = []
    b.peers.onConnection((c) => conns.push(c))
    raw.send(1, "connect", b.peers.id)
    const open = await raw.next("open")
    const conn = open[2] as number
    await waitFor(() => conns.length === 1, 5000, "bob's side")
    const received: unknown[] = []
    const errors: string[] = []
    conns[0]?.channels.cursor.subscribe((m) => received.push(m))
    conns[0]?.on("error", (e) => errors.push(e.code))
    raw.send(conn, "relay", [1, "cursor", { x: "not a number", y: 0, at: at.toISOString() }])
    raw.send(conn, "relay", [2, "nope", 1])
    raw.send(conn, "relay", [3, "cursor", { x: 3, y: 0, at: at.toISOString() }])
    const invalid = await raw.next("error")
    expect(invalid[4]).toMatchObject({ code: "INVALID_INPUT", n: 1 })
    expect((await raw.next("error", 1))[4]).toMatchObject({ code: "UNKNOWN_CHANNEL", n: 2 })
    await waitFor(() => received.length === 1, 5000, "the valid message")
    expect(received).toEqual([{ x: 3, y: 0, at }])
    expect(errors).toEqual([])
    expect(conns[0]?.state).toBe("open")
  })

  it("rejects forged, replayed and oversized signalling, leaving the connection as it was", async () => {
    const { url } = await start(allowAll, { maxPeerCandidates: 3 })
    const caller = await rawClient(url, "mallory")
    const outsider = await rawClient(url, "eve")
    const b = await client(url, "bob", false)
    const conns: Conn[] = []
    b.peers.onConnection((c) => conns.push(c))
    caller.send(1, "connect", b.peers.id)
    const conn = (await caller.next("open"))[2] as number
    await waitFor(() => conns.length === 1, 5000, "bob's side")
    const offer = { type: "offer", sdp: "v=0\r\n" }
    const refusals = () => caller.peerFrames().filter((f) => f[3] === "error")
    // Forged: someone else's connection id, for an offer and for a relay.
    outsider.send(conn, "offer", offer)
    outsider.send(conn, "relay", [1, "note", "from eve"])
    expect((await outsider.next("error"))[4]).toMatchObject({ code: "PEER_SIGNAL_REFUSED" })
    expect((await outsider.next("error", 1))[4]).toMatchObject({ code: "PEER_CLOSED" })
    // The caller's first offer passes; a second (a replay) does not, nor an answer from the caller.
    caller.send(conn, "offer", offer)
    caller.send(conn, "offer", offer)
    caller.send(conn, "answer", { type: "answer", sdp: "v=0\r\n" })
    caller.send(conn, "offer", { type: "offer", sdp: "x".repeat(MAX_SDP_LENGTH + 1) })
    for (let i = 0; i < 4; i++)
      caller.send(conn, "candidate", { candidate: `candidate:${i} 1 udp 1 127.0.0.1 9 typ host` })
    caller.send(conn, "candidate", { candidate: "c".repeat(2000) })
    await waitFor(() => refusals().length === 5, 5000, "five refusals")
    const messages = refusals().map((f) => (f[4] as { code: string; message: string }).message)
    expect(refusals().every((f) => (f[4] as { code: string }).code === "PEER_SIGNAL_REFUSED")).toBe(true)
    expect(messages).toEqual([
      "this connection already has its offer",
      "only the called side may answer",
      `the SDP is longer than ${MAX_SDP_LENGTH} characters`,
      "more than 3 candidates",
      "the candidate is longer than 1024 characters",
    ])
    // The connection is untouched: messages still flow, and nothing else happened to bob.
    const notes: string[] = []
    conns[0]?.channels.note.subscribe((m) => notes.push(m))
    caller.send(conn, "relay", [1, "note", "still here"])
    await waitFor(() => notes.length === 1, 5000, "the relayed note")
    expect(notes).toEqual(["still here"])
    expect(conns[0]?.state).toBe("open")
  })

  it("answers a malformed connect with a refusal for its reference", async () => {
    const { url } = await start(allowAll)
    const raw = await rawClient(url, "mallory")
    raw.send(7, "connect", "x".repeat(65))
    raw.send(8, "connect", 42)
    expect((await raw.next("refused"))[2]).toBe(7)
    expect((await raw.next("refused", 1))[4]).toMatchObject({ code: "PEER_SIGNAL_REFUSED" })
    raw.send(9, "launch", null)
    expect((await raw.next("error"))[4]).toMatchObject({ code: "PEER_SIGNAL_REFUSED" })
  })
})
