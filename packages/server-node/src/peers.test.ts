import {
  type CompiledContract,
  compileContract,
  contract,
  decodeServerFrame,
  peer,
  prepareContract,
} from "@switchyard/core"
import { TestContract } from "@switchyard/core/testing"
import { beforeAll, describe, expect, it } from "vitest"
import { type PeerEndpoint, PeerHub } from "./peers.ts"
import { HandlerServices } from "./services.ts"

let compiled: CompiledContract
beforeAll(async () => {
  await prepareContract(TestContract)
  compiled = compileContract(TestContract)
})

interface FakeEndpoint extends PeerEndpoint {
  /** What `keepsUp()` and `roomFor()` answer. */
  keeping: boolean
  room: boolean
  /** The bound each `keepsUp(maxPending)` was asked with. */
  readonly asked: number[]
  readonly got: Array<readonly [number, string, unknown]>
}

/** A session as the hub sees it, recording the PEER frames it is sent as `[conn, op, data]`. */
function endpoint(peerId: string): FakeEndpoint {
  const got: Array<readonly [number, string, unknown]> = []
  const side: FakeEndpoint = {
    peerId,
    id: `session-${peerId}`,
    auth: undefined,
    keeping: true,
    room: true,
    asked: [],
    got,
    sendPeer(frameBody: string) {
      // Through the real codec, as the client would read it.
      const decoded = decodeServerFrame(`[14,1,${frameBody}]`)
      if (!decoded.ok) throw new Error(`malformed PEER frame: ${frameBody}`)
      const [, , conn, op, data] = decoded.frame as unknown as readonly [14, number, number, string, unknown]
      got.push([conn, op, data])
    },
    roomFor: () => side.room,
    keepsUp: (maxPending) => {
      side.asked.push(maxPending)
      return side.keeping
    },
  }
  return side
}

/** Two sessions with an open peer connection between them; returns its id. */
async function connected(contractCodecs = compiled) {
  const hub = new PeerHub(
    contractCodecs,
    { authorize: () => true },
    { maxPeerConnections: 4, maxPeerCandidates: 8, maxUnreliablePeerPending: 33 },
    () => {},
    new HandlerServices(undefined, () => {}),
  )
  const a = endpoint("a")
  const b = endpoint("b")
  hub.join(a)
  hub.join(b)
  hub.receive(a, 1, "connect", "b")
  await Promise.resolve()
  const incoming = b.got.find(([, op]) => op === "incoming")
  if (!incoming) throw new Error("no incoming connection")
  const conn = incoming[0]
  hub.receive(b, conn, "accept", null)
  expect(a.got.at(-1)?.[1]).toBe("open")
  a.got.length = 0
  b.got.length = 0
  return { hub, a, b, conn }
}

describe("PeerHub: unreliable peer messages (`latest`)", () => {
  it("passes them on, validated and re-encoded, to a receiver that keeps up", async () => {
    const { hub, a, b, conn } = await connected()
    hub.receive(a, conn, "latest", [7, "position", { x: 1, y: 2 }])
    hub.receive(a, conn, "latest", [9, "position", { x: 3, y: 4 }])
    expect(b.got).toEqual([
      [conn, "latest", [7, "position", { x: 1, y: 2 }]],
      [conn, "latest", [9, "position", { x: 3, y: 4 }]],
    ])
    expect(a.got).toEqual([])
    // The bound is the server's limit, passed through.
    expect(b.asked).toEqual([33, 33])
  })

  it("drops them, silently and without closing, while the receiver does not keep up or has no room", async () => {
    const { hub, a, b, conn } = await connected()
    b.keeping = false
    hub.receive(a, conn, "latest", [1, "position", { x: 1, y: 1 }])
    b.keeping = true
    b.room = false
    hub.receive(a, conn, "latest", [2, "position", { x: 2, y: 2 }])
    expect([a.got, b.got]).toEqual([[], []])
    // The connection is still open: the next one goes, and so do reliable messages.
    b.room = true
    hub.receive(a, conn, "latest", [3, "position", { x: 3, y: 3 }])
    hub.receive(a, conn, "relay", [1, "note", "still here"])
    expect(b.got).toEqual([
      [conn, "latest", [3, "position", { x: 3, y: 3 }]],
      [conn, "relay", [1, "note", "still here"]],
    ])
  })

  it("refuses a reliable channel, an unknown one and an invalid message to the sender only, with no skip", async () => {
    const { hub, a, b, conn } = await connected()
    hub.receive(a, conn, "latest", [1, "note", "hi"])
    hub.receive(a, conn, "latest", [2, "nope", 1])
    hub.receive(a, conn, "latest", [3, "position", { x: "left" }])
    hub.receive(a, conn, "latest", [0, "position", { x: 1, y: 1 }])
    expect(b.got).toEqual([])
    expect(a.got.map(([, op, data]) => [op, (data as { code: string }).code, (data as { n?: number }).n])).toEqual([
      ["error", "INVALID_INPUT", 1],
      ["error", "UNKNOWN_CHANNEL", 2],
      ["error", "INVALID_INPUT", 3],
      ["error", "INVALID_INPUT", undefined],
    ])
    expect((a.got[0]?.[2] as { message?: string } | undefined)?.message).toMatch(
      /reliable channel's messages are relayed/,
    )
    // A connection that is not this session's looks like none, as for `relay`.
    hub.receive(b, conn + 1, "latest", [4, "position", { x: 1, y: 1 }])
    expect(b.got.map(([, op, data]) => [op, (data as { code: string }).code])).toEqual([["error", "PEER_CLOSED"]])
  })

  it("drops them for a receiver that does not keep up before decoding them: an invalid one too, silently", async () => {
    // A Standard Schema that counts its validations: the server's decode of a peer message.
    let decodes = 0
    const counted = {
      "~standard": {
        version: 1 as const,
        vendor: "test",
        validate: (value: unknown) => {
          decodes++
          return typeof value === "number" ? { value } : { issues: [{ message: "not a number" }] }
        },
      },
    }
    const Counted = contract({
      peers: { x: peer({ message: counted, delivery: "unreliable" }), note: peer({ message: counted }) },
    })
    const { hub, a, b, conn } = await connected(compileContract(Counted))
    b.keeping = false
    for (let i = 1; i <= 100; i++) hub.receive(a, conn, "latest", [i, "x", i])
    hub.receive(a, conn, "latest", [101, "x", "not a number"])
    expect([decodes, a.got, b.got]).toEqual([0, [], []])
    // Refusals that do not depend on the receiver still come: an unknown channel, a reliable one.
    hub.receive(a, conn, "latest", [102, "nope", 1])
    hub.receive(a, conn, "latest", [103, "note", 1])
    expect(a.got.map(([, op, data]) => [op, (data as { code: string }).code])).toEqual([
      ["error", "UNKNOWN_CHANNEL"],
      ["error", "INVALID_INPUT"],
    ])
    expect(decodes).toBe(0)
    // Once the receiver keeps up, messages are validated again, and an invalid one is refused to the sender.
    a.got.length = 0
    b.keeping = true
    hub.receive(a, conn, "latest", [104, "x", 104])
    hub.receive(a, conn, "latest", [105, "x", "not a number"])
    expect(b.got).toEqual([[conn, "latest", [104, "x", 104]]])
    expect(a.got.map(([, op, data]) => [op, (data as { code: string }).code])).toEqual([["error", "INVALID_INPUT"]])
    expect(decodes).toBeGreaterThanOrEqual(2)
  })
})

describe("PeerHub: a session that moves to another node", () => {
  it("hears each of its connections close, and each connect of its still being authorised refused", async () => {
    let allow: (verdict: boolean) => void = () => {}
    const hub = new PeerHub(
      compiled,
      { authorize: ({ to }) => (to.peerId === "c" ? new Promise<boolean>((resolve) => (allow = resolve)) : true) },
      { maxPeerConnections: 4, maxPeerCandidates: 8, maxUnreliablePeerPending: 256 },
      () => {},
      new HandlerServices(undefined, () => {}),
    )
    const [a, b, c] = [endpoint("a"), endpoint("b"), endpoint("c")]
    for (const side of [a, b, c]) hub.join(side)
    hub.receive(a, 1, "connect", "b")
    await Promise.resolve()
    const conn = b.got.find(([, op]) => op === "incoming")?.[0] as number
    hub.receive(b, conn, "accept", null)
    hub.receive(a, 2, "connect", "c")
    await Promise.resolve()
    a.got.length = 0
    b.got.length = 0
    hub.leave(a, true)
    const told = (side: FakeEndpoint) => side.got.map(([id, op, data]) => [id, op, (data as { code: string }).code])
    expect(told(a)).toEqual([
      [2, "refused", "PEER_CLOSED"],
      [conn, "closed", "PEER_CLOSED"],
    ])
    expect(told(b)).toEqual([[conn, "closed", "PEER_CLOSED"]])
    // `authorize` answering after the move changes nothing: A was told already, C hears nothing.
    allow(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect([a.got.length, c.got]).toEqual([2, []])
    // A session that ends is not told (it has no one to tell); the other side is.
    hub.join(a)
    hub.receive(a, 3, "connect", "b")
    await Promise.resolve()
    const second = b.got.find(([, op]) => op === "incoming")?.[0] as number
    hub.receive(b, second, "accept", null)
    a.got.length = 0
    hub.leave(a)
    expect(a.got).toEqual([])
    expect(told(b).at(-1)).toEqual([second, "closed", "PEER_CLOSED"])
  })

  it("tells a moving session nothing its replay buffer has no room for; the other side still hears", async () => {
    const { hub, a, b, conn } = await connected()
    // A session whose replay buffer is that full would end REPLAY_OVERFLOW on one more frame, in the
    // middle of its hand-over.
    a.room = false
    hub.leave(a, true)
    expect(a.got).toEqual([])
    expect(b.got.map(([id, op]) => [id, op])).toEqual([[conn, "closed"]])
  })
})
