import type { Client } from "@switchyard/core"
import { FrameType, PROTOCOL_VERSION } from "@switchyard/core"
import { type TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { memoryCluster } from "@switchyard/server-node"
import { describe, expect, it } from "vitest"
import WebSocket from "ws"
import { latch } from "./support/latch.ts"
import { SessionClusterFixture, type TestNode } from "./support/sessionCluster.ts"

/** The node holding the client's session. */
function ownerOf(cluster: SessionClusterFixture): TestNode | undefined {
  return cluster.nodes.find((n) => n.server.sessionCount === 1)
}

/**
 * Cuts the client's connection until its session is taken over by a node that `wanted` accepts. The
 * balancer deals each new connection to the next node, not always the one wanted: a take-over that lands
 * elsewhere is cut again at once. Each take-over has 5 s, however loaded the machine: the attempts are
 * for the balancer's choice, not for slowness.
 */
async function moveSession(
  cluster: SessionClusterFixture,
  client: Client<TestContract>,
  wanted: (node: TestNode) => boolean,
): Promise<TestNode> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const from = ownerOf(cluster)
    cluster.proxy.drop()
    const moved = () => {
      const owner = ownerOf(cluster)
      return client.state === "connected" && owner !== undefined && owner !== from
    }
    // Not moved in time (a retried connection came round to the same node, which resumed it): cut again.
    const settled = await waitFor(moved, 5000, "the take-over").then(
      () => true,
      () => false,
    )
    const owner = ownerOf(cluster)
    if (settled && owner !== undefined && wanted(owner)) return owner
  }
  throw new Error("the session never reached the node wanted")
}

/**
 * Waits until the node that handed the session on to `to` (in a message after the first `since`) has told
 * `to` that the session's ghosts send there now (`ghost-switched`), and that this has arrived. Until then
 * `to` takes what the ghosts ran through that node: were it to die first, that work is lost
 * (SESSION_LOST), as designed.
 */
async function switched(cluster: SessionClusterFixture, to: TestNode, since: number): Promise<void> {
  const told = (m: SessionClusterFixture["messages"][number]) =>
    m.to === to.id && m.json.startsWith('{"t":"ghost-switched"')
  await waitFor(() => cluster.messages.slice(since).some(told), 5000, "the ghosts' switch to the new owner")
  // The in-memory bus delivers it on a later turn of the event loop (setImmediate): this turn follows it.
  await new Promise((resolve) => setImmediate(resolve))
}

describe("what crosses the bus when a session moves", () => {
  it("never the session token: take-overs ask by its hash and the snapshot leaves it out", async () => {
    await using cluster = await SessionClusterFixture.start()
    const hellos: unknown[][] = []
    class Recording extends WebSocket {
      override send(data: unknown, ...rest: unknown[]): void {
        const frame = JSON.parse(String(data)) as unknown[]
        if (frame[0] === FrameType.HELLO) hellos.push(frame)
        ;(super.send as (...args: unknown[]) => void)(data, ...rest)
      }
    }
    const client = await cluster.client("websocket", Recording)
    const sessionId = client.sessionId
    for (let move = 0; move < 2; move++) {
      const owner = cluster.sessionCounts.indexOf(1)
      cluster.proxy.drop()
      await waitFor(
        () => client.state === "connected" && cluster.sessionCounts.indexOf(1) !== owner,
        5000,
        "the take-over",
      )
    }
    expect(client.sessionId).toBe(sessionId)
    const takes = cluster.messages.filter((m) => m.json.startsWith('{"t":"take"'))
    expect(takes.length).toBeGreaterThanOrEqual(2)
    expect(cluster.messages.some((m) => m.json.startsWith('{"t":"taken"'))).toBe(true)
    const token = hellos.at(-1)?.[2]
    expect(typeof token).toBe("string")
    for (const m of cluster.messages) expect(m.json).not.toContain(token as string)
  })
})

describe("a call left running as a ghost when a node in the middle of its session's way goes", () => {
  /** The call's outcome. */
  const outcomeOf = (call: Promise<number>) =>
    call.then(
      (v) => `ok:${v}`,
      (e: { code?: string }) => `error:${e.code}`,
    )
  /** `outcome`, or "unanswered" if it has none 5 s after the call was let finish. */
  const dueBy = (outcome: Promise<string>) =>
    Promise.race([outcome, new Promise((resolve) => setTimeout(resolve, 5000, "unanswered"))])
  /**
   * Handlers that count the `delayed` calls started (`running`: one has reached the node of its session),
   * which finish only once the test calls `finish()`.
   */
  const counting = () => {
    const started = [0]
    const { opened, open } = latch()
    const handlers = (state: TestServerState) => {
      const base = testHandlers(state)
      const delayed = async (input: { ms: number; value: number }) => {
        started[0] = (started[0] as number) + 1
        await opened
        return base.rpc.delayed(input)
      }
      return { ...base, rpc: { ...base.rpc, delayed } }
    }
    return { handlers, finish: open, running: () => waitFor(() => started[0] === 1, 3000, "the call to start") }
  }

  it("n1 → n2 → n3, then n2 closes: n1's result reaches n3", async () => {
    const { handlers, running, finish } = counting()
    await using cluster = await SessionClusterFixture.start({ handlers, serverLimits: { handOverGraceMs: 5000 } })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = ownerOf(cluster) as TestNode
    const outcome = outcomeOf(client.rpc.delayed({ ms: 0, value: 9 }))
    await running()
    const second = await moveSession(cluster, client, (n) => n !== first)
    await moveSession(cluster, client, (n) => n !== first && n !== second)
    cluster.balancer.out(second.port)
    await second.server.close()
    finish()
    expect(await dueBy(outcome)).toBe("ok:9")
    expect(client.sessionId).toBe(sessionId)
  })

  it("n1 → n2 → n1, then n2 dies: n1's result reaches its own session", async () => {
    const { handlers, running, finish } = counting()
    await using cluster = await SessionClusterFixture.start({ handlers })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = ownerOf(cluster) as TestNode
    const outcome = outcomeOf(client.rpc.delayed({ ms: 0, value: 5 }))
    await running()
    const second = await moveSession(cluster, client, (n) => n !== first)
    const sent = cluster.messages.length
    await moveSession(cluster, client, (n) => n === first)
    await switched(cluster, first, sent)
    cluster.kill(second.id)
    finish()
    expect(await dueBy(outcome)).toBe("ok:5")
    expect(client.sessionId).toBe(sessionId)
  })

  it("n1 → n2 → n3, then n2 dies: n1's result reaches n3", async () => {
    const { handlers, running, finish } = counting()
    await using cluster = await SessionClusterFixture.start({ handlers })
    const client = await cluster.client("websocket")
    const first = ownerOf(cluster) as TestNode
    const outcome = outcomeOf(client.rpc.delayed({ ms: 0, value: 3 }))
    await running()
    const second = await moveSession(cluster, client, (n) => n !== first)
    const sent = cluster.messages.length
    const third = await moveSession(cluster, client, (n) => n !== first && n !== second)
    await switched(cluster, third, sent)
    cluster.kill(second.id)
    finish()
    expect(await dueBy(outcome)).toBe("ok:3")
  })
})

describe("a SUBSCRIBE still being decided when its session moves", () => {
  it("is run again by the new owner: the subscription is in force there, answered once", async () => {
    // Every node's canSubscribe decides only once the session has moved.
    const { opened: moved, open: decide } = latch()
    let deciding = 0
    await using cluster = await SessionClusterFixture.start({
      handlers: (state) => {
        const base = testHandlers(state)
        const canSubscribe = () => {
          deciding++
          return moved.then(() => true)
        }
        return { ...base, topics: { ...base.topics, feed: { canSubscribe } } }
      },
    })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = ownerOf(cluster) as TestNode
    const errors: string[] = []
    const got: number[] = []
    client.topics.feed("k").subscribe((n) => void got.push(n), { onError: (e) => void errors.push(e.code) })
    await waitFor(() => deciding === 1, 3000, "the SUBSCRIBE to be decided on the first node")
    const owner = await moveSession(cluster, client, (n) => n !== first)
    await waitFor(() => deciding >= 2, 3000, "the new owner to decide the SUBSCRIBE again")
    decide()
    await waitFor(() => owner.server.topics.feed("k").subscribers === 1, 3000, "the subscription on the new owner")
    first.server.topics.feed("k").publish(1)
    await waitFor(() => got.length === 1, 3000, "the message")
    expect(got).toEqual([1])
    expect(errors).toEqual([])
    expect(client.sessionId).toBe(sessionId)
    expect(cluster.nodes.map((n) => n.server.topics.feed("k").subscribers)).toEqual(
      cluster.nodes.map((n) => (n === owner ? 1 : 0)),
    )
  })
})

describe("a client PUBLISH still being decided on a node its session leaves", () => {
  /**
   * Handlers whose `canPublish` decides (allows) only when the test calls `decide()`; `running` waits
   * until one has reached its session's node.
   */
  const heldPublisher = () => {
    let deciding = 0
    const { opened, open } = latch()
    const handlers = (state: TestServerState) => {
      const base = testHandlers(state)
      const canPublish = () => {
        deciding++
        return opened.then(() => true)
      }
      return { ...base, topics: { ...base.topics, room: { canPublish } } }
    }
    return { handlers, decide: open, running: () => waitFor(() => deciding === 1, 3000, "the PUBLISH to be decided") }
  }
  const message = { user: "u", text: "t", at: new Date() }
  const outcomeOf = (publishing: Promise<void>) =>
    Promise.race([
      publishing.then(
        () => "ok",
        (e: { code?: string }) => `error:${e.code}`,
      ),
      new Promise((resolve) => setTimeout(resolve, 10_000, "unanswered")),
    ])

  it("the node closing gracefully waits for it, and its answer reaches the client through the new owner", async () => {
    const { handlers, running, decide } = heldPublisher()
    await using cluster = await SessionClusterFixture.start({
      handlers,
      serverLimits: { handOverGraceMs: 5000 },
    })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const owner = ownerOf(cluster) as TestNode
    const outcome = outcomeOf(client.topics.room("r").publish(message))
    await running()
    cluster.balancer.out(owner.port)
    const closing = owner.server.close()
    // The session moves while the closing node still decides its PUBLISH; only then does the decision come.
    await waitFor(
      () => client.state === "connected" && ownerOf(cluster) !== undefined && ownerOf(cluster) !== owner,
      5000,
      "the take-over",
    )
    decide()
    await closing
    expect(await outcome).toBe("ok")
    expect(client.sessionId).toBe(sessionId)
  })

  it("the node dying: the new owner answers it SESSION_LOST, once", async () => {
    const { handlers, running, decide } = heldPublisher()
    await using cluster = await SessionClusterFixture.start({ handlers })
    const client = await cluster.client("websocket")
    const first = ownerOf(cluster) as TestNode
    const outcome = outcomeOf(client.topics.room("r").publish(message))
    await running()
    await moveSession(cluster, client, (n) => n !== first)
    cluster.kill(first.id)
    // Decided only now, on a node that is dead: its answer is lost on the way.
    decide()
    expect(await outcome).toBe("error:SESSION_LOST")
    expect(await client.rpc.add({ a: 1, b: 1 })).toBe(2)
  })
})

describe("unreliable items of ghosts", () => {
  /** Opens an unreliable stream and reads it until the client closes; `got[0]` counts its items. */
  const open = (client: Client<TestContract>) => {
    const got = [0]
    const reading = async () => {
      for await (const _ of client.streams.telemetry({ count: 100_000 })) {
        got[0] = (got[0] as number) + 1
        if (client.state === "closed") return
      }
    }
    void reading().catch(() => {})
    return got
  }
  /** Waits until the stream's items come: its CALL has reached the session's node and runs there. */
  const running = (got: number[]) => waitFor(() => (got[0] as number) > 0, 3000, "the stream's first item")

  it("two ghosts of one session on one node never share a latest-value slot", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("websocket")
    const first = ownerOf(cluster) as TestNode
    await running(open(client))
    await moveSession(cluster, client, (n) => n !== first)
    await moveSession(cluster, client, (n) => n === first)
    await running(open(client))
    const sent = cluster.messages.length
    await moveSession(cluster, client, (n) => n !== first)
    const streams = () => [...streamsBySlot(cluster.messages.slice(sent), first.id).values()]
    await waitFor(() => new Set(streams().flatMap((ids) => [...ids])).size === 2, 3000, "both ghosts' items")
    for (const ids of streams()) expect(ids.size).toBe(1)
  })

  it("a ghost's items passed on by the node that handed its session on keep a slot of their own", async () => {
    // The new owner's confirmation takes a while, as over Redis: the old owner keeps what comes meanwhile.
    let slow = false
    const shared = memoryCluster()
    await using cluster = await SessionClusterFixture.start({
      broker: (id) => {
        const broker = shared.broker(id)
        const bus = broker.nodes
        if (bus) {
          const send = bus.send.bind(bus)
          bus.send = (to, m) => void (slow && m.t === "adopted" ? setTimeout(send, 100, to, m) : send(to, m))
        }
        return broker
      },
    })
    const client = await cluster.client("websocket")
    const first = ownerOf(cluster) as TestNode
    await running(open(client))
    // The first node's ghost, and one on the second node: each numbers its first slot 1.
    const second = await moveSession(cluster, client, (n) => n !== first)
    await running(open(client))
    const sent = cluster.messages.length
    slow = true
    const third = await moveSession(cluster, client, (n) => n !== second)
    const received = () => slotsAt(cluster.messages.slice(sent), third.id)
    await waitFor(() => new Set([...received().values()].flatMap((ids) => [...ids])).size === 2, 3000, "both")
    // The second node passed the first node's items on, with its own ghost's.
    const passedOn = cluster.messages
      .slice(sent)
      .filter((m) => m.from === second.id && m.to === third.id && m.json.startsWith('{"t":"ghost-latest"'))
    expect(new Set(passedOn.map((m) => streamOf(m.json))).size).toBe(2)
    for (const ids of received().values()) expect(ids.size).toBe(1)
  })
})

/** The stream id of a `ghost-latest` message's unreliable item. */
function streamOf(json: string): number {
  const { frame } = JSON.parse(json) as { frame: string }
  return (JSON.parse(frame) as number[])[2] as number
}

/** The stream ids whose unreliable items each latest-value slot of node `from`'s ghosts carried. */
function streamsBySlot(messages: SessionClusterFixture["messages"], from: string): Map<number, Set<number>> {
  const slots = new Map<number, Set<number>>()
  for (const m of messages) {
    if (m.from !== from || !m.json.startsWith('{"t":"ghost-latest"')) continue
    const { slot } = JSON.parse(m.json) as { slot: number }
    slots.set(slot, (slots.get(slot) ?? new Set()).add(streamOf(m.json)))
  }
  return slots
}

/**
 * The stream ids whose unreliable items each latest-value slot of the owner `to` carried: it keys them by
 * the node whose ghost numbered the slot, as the message names it, else by the node that sent it.
 */
function slotsAt(messages: SessionClusterFixture["messages"], to: string): Map<string, Set<number>> {
  const slots = new Map<string, Set<number>>()
  for (const m of messages) {
    if (m.to !== to || !m.json.startsWith('{"t":"ghost-latest"')) continue
    const { node, slot } = JSON.parse(m.json) as { node?: string; slot: number }
    const name = `${node ?? m.from}/${slot}`
    slots.set(name, (slots.get(name) ?? new Set()).add(streamOf(m.json)))
  }
  return slots
}

describe("a link whose session another node is handing over", () => {
  it("is refused when it sends more than a few frames before its WELCOME", async () => {
    await using cluster = await SessionClusterFixture.start()
    const [n1, n2] = cluster.nodes as [TestNode, TestNode]
    const open = async (node: TestNode) => {
      const socket = new WebSocket(`ws://127.0.0.1:${node.port}/switchyard`)
      const frames: unknown[][] = []
      socket.on("message", (data) => void frames.push(JSON.parse(String(data)) as unknown[]))
      await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject))
      return { socket, frames }
    }
    const first = await open(n1)
    first.socket.send(JSON.stringify([FrameType.HELLO, PROTOCOL_VERSION, null, 0]))
    await waitFor(() => first.frames.length > 0, 3000, "the WELCOME")
    const token = first.frames[0]?.[2]
    const second = await open(n2)
    const closed = new Promise((resolve) => {
      second.socket.once("close", resolve)
      setTimeout(resolve, 3000)
    })
    second.socket.send(JSON.stringify([FrameType.HELLO, PROTOCOL_VERSION, token, 0]))
    for (let seq = 1; seq <= 50; seq++) {
      second.socket.send(JSON.stringify([FrameType.CALL, seq, seq, "add", { a: seq, b: 0 }]))
    }
    await closed
    expect(second.frames.map((frame) => frame[0])).toEqual([FrameType.BYE])
    expect(second.frames[0]?.[1]).toBe("HANDSHAKE_REQUIRED")
    first.socket.close()
  })
})

describe("the renewal of a subscription after a take-over", () => {
  it("larger than the replay buffer takes: goes on with live messages and TOPIC_GAP, the session kept", async () => {
    await using cluster = await SessionClusterFixture.start({ serverLimits: { maxReplayFrames: 20 } })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = ownerOf(cluster) as TestNode
    const errors: string[] = []
    client.on("error", (e) => void errors.push(e.code))
    const got: number[] = []
    client.topics.feed("burst").subscribe((n) => void got.push(n))
    await waitFor(() => first.server.topics.feed("burst").subscribers === 1, 3000, "the subscription")
    // A burst between the snapshot and its renewal: it comes from the history, more than the buffer takes.
    cluster.onMessage = (from, _to, message) => {
      if (from !== first.id || message.t !== "taken") return
      cluster.onMessage = undefined
      for (let i = 0; i < 40; i++) first.server.topics.feed("burst").publish(i)
    }
    const owner = await moveSession(cluster, client, (n) => n !== first)
    owner.server.topics.feed("burst").publish(100)
    await waitFor(() => got.includes(100), 3000, "the live message")
    expect(client.sessionId).toBe(sessionId)
    expect(errors).toContain("TOPIC_GAP")
    expect(errors).not.toContain("REPLAY_OVERFLOW")
  })
})

describe("a take-over that asks the previous owner before the directory names the new one", () => {
  it("follows the session to the node it was handed to, rather than starting a new one", async () => {
    // Claims that reach the directory late, as a SET to a slow Redis does: held, in order, once `holding`.
    const shared = memoryCluster()
    let holding = false
    const { opened: claimsIn, open: letClaimsIn } = latch()
    await using cluster = await SessionClusterFixture.start({
      broker: (id) => {
        const broker = shared.broker(id)
        const bus = broker.nodes
        if (bus) {
          const claim = bus.claim.bind(bus)
          bus.claim = (key) => (holding ? claimsIn.then(() => claim(key)) : claim(key))
        }
        return broker
      },
    })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = ownerOf(cluster) as TestNode
    await waitFor(() => shared.nodes.directory.size === 1, 3000, "the first claim")
    holding = true
    const second = await moveSession(cluster, client, (n) => n !== first)
    // The second node's claim is not in: the next node finds the first one in the directory.
    await moveSession(cluster, client, (n) => n !== second)
    letClaimsIn()
    expect(client.sessionId).toBe(sessionId)
    // The first node said where the session went.
    expect(cluster.messages.some((m) => m.from === first.id && m.json.startsWith('{"t":"moved"'))).toBe(true)
    expect(await client.rpc.add({ a: 2, b: 3 })).toBe(5)
  })
})

describe("a hand-over that does not arrive", () => {
  it("lost on the way: the owner keeps the session and hands it over again to the client's retry", async () => {
    await using cluster = await SessionClusterFixture.start({ serverLimits: { takeOverTimeoutMs: 500 } })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = ownerOf(cluster) as TestNode
    const pending = client.rpc.delayed({ ms: 1500, value: 8 })
    let lost = 0
    cluster.drop = (from, _to, message) => from === first.id && message.t === "taken" && ++lost === 1
    await new Promise((resolve) => setTimeout(resolve, 50))
    await moveSession(cluster, client, (n) => n !== first)
    expect(lost).toBeGreaterThanOrEqual(1)
    expect(client.sessionId).toBe(sessionId)
    expect(await pending).toBe(8)
  })

  it("too large to send: the session ends on its node, and its client gets a new one elsewhere", async () => {
    await using cluster = await SessionClusterFixture.start({ serverLimits: { maxSnapshotChars: 100 } })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = ownerOf(cluster) as TestNode
    cluster.proxy.drop()
    await waitFor(() => client.state === "connected" && client.sessionId !== sessionId, 5000, "a new session")
    expect(first.server.sessionCount).toBe(0)
    expect(cluster.messages.some((m) => m.json.startsWith('{"t":"taken"'))).toBe(false)
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
  })
})

describe("the sessions a node counts per address through a hand-over", () => {
  /** A raw WebSocket to `node` from 127.0.0.1 that sends HELLO (`token`: resume that session) and keeps what it gets. */
  const hello = async (node: TestNode, token: string | null) => {
    const socket = new WebSocket(`ws://127.0.0.1:${node.port}/switchyard`, { localAddress: "127.0.0.1" })
    const frames: unknown[][] = []
    let closed: number | undefined
    socket.on("message", (data) => void frames.push(JSON.parse(String(data)) as unknown[]))
    socket.on("close", (code) => {
      closed = code
    })
    socket.on("error", () => {})
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject))
    socket.send(JSON.stringify([FrameType.HELLO, PROTOCOL_VERSION, token, 0]))
    await waitFor(() => frames.some((f) => f[0] === FrameType.WELCOME || f[0] === FrameType.BYE), 5000, "the answer")
    const answer = frames.find((f) => f[0] === FrameType.WELCOME || f[0] === FrameType.BYE) as unknown[]
    return { socket, answer, closed: () => closed }
  }
  const limits = { maxSessionsPerIp: 1, refusalDelayMs: 0, takeOverTimeoutMs: 500 }

  it("are counted again when the hand-over fails: the session put back still holds its address's place", async () => {
    await using cluster = await SessionClusterFixture.start({ count: 2, serverLimits: limits })
    const [n1, n2] = cluster.nodes as [TestNode, TestNode]
    const first = await hello(n1, null)
    expect(first.answer[0]).toBe(FrameType.WELCOME)
    const token = first.answer[2] as string
    // n1 hands the session out, and its snapshot is lost on the way: n2 gives up, n1 puts the session back.
    cluster.drop = (from, _to, message) => from === n1.id && message.t === "taken"
    const taking = await hello(n2, token)
    expect(taking.answer.slice(0, 2)).toEqual([FrameType.BYE, "CONNECTION_LOST"])
    await waitFor(() => n1.server.sessionCount === 1, 3000, "the session put back")
    const another = await hello(n1, null)
    expect(another.answer.slice(0, 2)).toEqual([FrameType.BYE, "TOO_MANY_SESSIONS"])
    // The session itself resumes there, as before.
    cluster.drop = undefined
    const back = await hello(n1, token)
    expect(back.answer[0]).toBe(FrameType.WELCOME)
    expect(back.answer[4]).toBe(true)
    for (const socket of [first, taking, another, back]) socket.socket.terminate()
  })

  it("move with the session when the other node takes it: its new node counts it, the old one no longer", async () => {
    await using cluster = await SessionClusterFixture.start({ count: 2, serverLimits: limits })
    const [n1, n2] = cluster.nodes as [TestNode, TestNode]
    const first = await hello(n1, null)
    const token = first.answer[2] as string
    const moved = await hello(n2, token)
    expect(moved.answer[0]).toBe(FrameType.WELCOME)
    expect(moved.answer[4]).toBe(true)
    // n1 releases its count once n2 confirmed (the "adopted" message follows the snapshot).
    await waitFor(() => n1.server.sessionCount === 0, 3000, "the session to leave n1")
    let onN1: unknown[] | undefined
    for (let attempt = 0; attempt < 40 && onN1?.[0] !== FrameType.WELCOME; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50))
      const fresh = await hello(n1, null)
      fresh.socket.terminate()
      onN1 = fresh.answer
    }
    expect(onN1?.[0]).toBe(FrameType.WELCOME)
    // n2 counts the session it took over against the address that took it.
    const onN2 = await hello(n2, null)
    expect(onN2.answer.slice(0, 2)).toEqual([FrameType.BYE, "TOO_MANY_SESSIONS"])
    for (const socket of [first, moved, onN2]) socket.socket.terminate()
  })
})
