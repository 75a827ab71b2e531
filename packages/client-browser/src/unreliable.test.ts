import {
  body,
  contract,
  control,
  dataFrame,
  FrameType,
  type Link,
  memoryTransport,
  prepareContract,
  type SwitchyardError,
  stream,
  topic,
  unreliableFrame,
} from "@switchyard/core"
import * as Schema from "effect/Schema"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { createClient } from "./client.ts"

const Game = contract({
  streams: { telemetry: stream({ input: Schema.Null, item: Schema.Number, delivery: "unreliable" }) },
  topics: { cursor: topic({ message: Schema.Number, delivery: "unreliable" }) },
})

const limits = {
  maxMessageBytes: 1 << 20,
  heartbeatIntervalMs: 60_000,
  heartbeatTimeoutMs: 60_000,
  resumeWindowMs: 60_000,
  maxDepth: 64,
}

/**
 * A scripted server on the memory transport: it answers HELLO and records what the client sends, and
 * the test writes the server's frames itself, in any order a lossy, reordering channel could produce.
 */
function scriptedServer() {
  const received: unknown[][] = []
  let link: Link | undefined
  const transport = memoryTransport((l) => {
    link = l
    return {
      frame(data) {
        const frame = JSON.parse(String(data)) as unknown[]
        received.push(frame)
        if (frame[0] !== FrameType.HELLO) return
        // On WebRTC an UNRELIABLE frame can overtake WELCOME on its own channel.
        l.send(unreliableFrame(1, body.message("cursor", "k", "1")))
        l.send(control.welcome(1, "token", "session", false, 0, limits))
      },
      close() {},
    }
  })
  return {
    transport,
    received,
    send(frame: string) {
      link?.send(frame)
    },
  }
}

// No server runs in this process to register Effect's codec, so the client would load it on demand and
// send nothing until then; the same for the client's topics and streams modules, loaded on first use.
// Load them first, so that `settle` measures the frames and not the imports.
beforeAll(async () => {
  await prepareContract(Game)
  await Promise.all([import("./subscriptions.ts"), import("./streams.ts")])
})

const settle = () => new Promise((resolve) => setTimeout(resolve, 10))
const clients: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
})

describe("unreliable frames on the client", () => {
  it("delivers a topic message only when newer than the last delivered for its key", async () => {
    const server = scriptedServer()
    // The UNRELIABLE frame before WELCOME is dropped, not a handshake violation (no error below).
    const client = createClient(Game, { url: "memory:", transports: [server.transport] })
    clients.push(client)
    const errors: SwitchyardError[] = []
    client.on("error", (e) => errors.push(e))
    const got: number[] = []
    client.topics.cursor("k").subscribe((n) => got.push(n))
    await settle()
    const subscribe = server.received.find((f) => f[0] === FrameType.SUBSCRIBE)
    // The form without `since`: unreliable topics have no positions.
    expect(subscribe).toEqual([FrameType.SUBSCRIBE, 1, 1, "cursor", "k"])
    server.send(dataFrame(FrameType.RESULT, 1, body.result(1, "null")))
    for (const n of [5, 3, 7, 7, 6, 9]) server.send(unreliableFrame(n, body.message("cursor", "k", String(n * 10))))
    // Another key, and a topic the client is not subscribed to, are not this key's.
    server.send(unreliableFrame(100, body.message("cursor", "other", "1")))
    server.send(unreliableFrame(8, body.message("nothing", "k", "1")))
    await settle()
    expect(got).toEqual([50, 70, 90])
    // A bad payload is an error event; the next good one is still delivered.
    server.send(unreliableFrame(10, body.message("cursor", "k", '"ten"')))
    server.send(unreliableFrame(11, body.message("cursor", "k", "110")))
    await settle()
    expect(got).toEqual([50, 70, 90, 110])
    expect(errors.map((e) => e.code)).toEqual(["INVALID_OUTPUT"])
    // Never acknowledged: UNRELIABLE frames are not in the session's sequence.
    expect(server.received.filter((f) => f[0] === FrameType.ACK)).toEqual([])
  })

  it("keeps an unreliable stream newest-only, sends it no credit, and ends it at END", async () => {
    const server = scriptedServer()
    const client = createClient(Game, { url: "memory:", transports: [server.transport] })
    clients.push(client)
    const iterator = client.streams.telemetry(null, { window: 2 })[Symbol.asyncIterator]()
    await settle()
    const open = server.received.find((f) => f[0] === FrameType.STREAM)
    expect(open?.slice(2, 4)).toEqual([1, "telemetry"])
    server.send(unreliableFrame(2, body.item(1, "2")))
    // Older than the item delivered: dropped.
    server.send(unreliableFrame(1, body.item(1, "1")))
    await settle()
    expect(await iterator.next()).toEqual({ value: 2, done: false })
    // Not taken yet: a newer item replaces the one waiting.
    server.send(unreliableFrame(3, body.item(1, "3")))
    server.send(unreliableFrame(5, body.item(1, "5")))
    server.send(unreliableFrame(4, body.item(1, "4")))
    await settle()
    expect(await iterator.next()).toEqual({ value: 5, done: false })
    server.send(dataFrame(FrameType.END, 1, body.end(1)))
    server.send(unreliableFrame(6, body.item(1, "6")))
    await settle()
    expect(await iterator.next()).toEqual({ value: undefined, done: true })
    expect(server.received.filter((f) => f[0] === FrameType.CREDIT)).toEqual([])
  })
})
