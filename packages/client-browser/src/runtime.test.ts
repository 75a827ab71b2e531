import {
  type AnyContract,
  body,
  compileContract,
  contract,
  control,
  dataFrame,
  FrameType,
  type Link,
  memoryTransport,
  prepareContract,
  rpc,
  stream,
  topic,
} from "@switchyard/core"
import * as Schema from "effect/Schema"
import { afterEach, describe, expect, it } from "vitest"
import { ClientRuntime } from "./runtime.ts"

const Api = contract({
  rpc: { double: rpc({ input: Schema.Number, output: Schema.Number }) },
  streams: { count: stream({ input: Schema.Number, item: Schema.Number }) },
  topics: { room: topic({ message: Schema.String }) },
})

const limits = {
  maxMessageBytes: 1 << 20,
  heartbeatIntervalMs: 60_000,
  heartbeatTimeoutMs: 60_000,
  resumeWindowMs: 60_000,
  maxDepth: 64,
}

/** A server on the memory transport: WELCOME, doubles CALLs, counts STREAMs, confirms SUBSCRIBEs. */
function server() {
  const received: unknown[][] = []
  let seq = 0
  let link: Link | undefined
  const send = (type: number, frameBody: string) => link?.send(dataFrame(type, ++seq, frameBody))
  const transport = memoryTransport((l) => {
    link = l
    return {
      frame(data) {
        const frame = JSON.parse(String(data)) as unknown[]
        received.push(frame)
        if (frame[0] === FrameType.HELLO) return l.send(control.welcome(1, "token", "session", false, 0, limits))
        const id = frame[2] as number
        if (frame[0] === FrameType.CALL) send(FrameType.RESULT, body.result(id, String((frame[4] as number) * 2)))
        if (frame[0] === FrameType.STREAM) {
          for (let i = 1; i <= (frame[4] as number); i++) send(FrameType.ITEM, body.item(id, String(i)))
          send(FrameType.END, body.end(id))
        }
        if (frame[0] === FrameType.SUBSCRIBE) {
          send(FrameType.RESULT, body.result(id, "null"))
          send(FrameType.MESSAGE, body.message("room", "k", JSON.stringify("hello")))
        }
      },
      close() {},
    }
  })
  return { transport, received }
}

const runtimes: ClientRuntime[] = []
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.client.close()
})

describe("a contract whose codecs are prepared asynchronously", () => {
  it("makes calls, streams and subscriptions made at once wait for the codecs, then run as usual", async () => {
    const { transport, received } = server()
    let release: () => void = () => {}
    const loaded = new Promise<void>((resolve) => {
      release = resolve
    })
    const prepare = async (c: AnyContract) => {
      await loaded
      await prepareContract(c)
      return compileContract(c)
    }
    const runtime = new ClientRuntime(Api, { url: "memory:", transports: [transport] }, prepare)
    runtimes.push(runtime)
    const client = runtime.client as unknown as {
      rpc: { double(n: number): Promise<number> }
      streams: { count(n: number): AsyncIterable<number> }
      topics: { room(key: string): { subscribe(listener: (m: string) => void): () => void } }
    }
    const doubled = client.rpc.double(21)
    const items: number[] = []
    const counted = (async () => {
      for await (const n of client.streams.count(3)) items.push(n)
    })()
    const messages: string[] = []
    client.topics.room("k").subscribe((m) => messages.push(m))
    await new Promise((resolve) => setTimeout(resolve, 20))
    // Nothing that carries a payload left before the codecs were there.
    expect(received.filter((f) => f[0] !== FrameType.HELLO)).toEqual([])
    release()
    expect(await doubled).toBe(42)
    await counted
    expect(items).toEqual([1, 2, 3])
    // The subscription's message comes when it does (a loaded machine took more than 20 ms once).
    await expect.poll(() => messages).toEqual(["hello"])
    // Once prepared, calls take the direct path.
    expect(await client.rpc.double(2)).toBe(4)
  })

  it("invalid input is refused once the codecs are there", async () => {
    const { transport } = server()
    const prepare = async (c: AnyContract) => {
      await prepareContract(c)
      return compileContract(c)
    }
    const runtime = new ClientRuntime(Api, { url: "memory:", transports: [transport] }, prepare)
    runtimes.push(runtime)
    const client = runtime.client as unknown as { rpc: { double(n: unknown): Promise<number> } }
    await expect(client.rpc.double("x")).rejects.toMatchObject({ code: "INVALID_INPUT" })
  })
})

describe("a contract whose codecs cannot be loaded", () => {
  it("tells a subscription made at once through its onError, and leaves no rejection unhandled", async () => {
    const { transport } = server()
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on("unhandledRejection", onUnhandled)
    try {
      const prepare = () => Promise.reject(new Error("the chunk could not be fetched"))
      const runtime = new ClientRuntime(Api, { url: "memory:", transports: [transport] }, prepare)
      runtimes.push(runtime)
      const client = runtime.client as unknown as {
        on(event: "error", listener: (e: { code: string }) => void): () => void
        rpc: { double(n: number): Promise<number> }
        topics: {
          room(key: string): { subscribe(listener: (m: string) => void, options?: object): () => void }
        }
      }
      const events: string[] = []
      client.on("error", (e) => events.push(e.code))
      const subscriptionErrors: string[] = []
      client.topics.room("k").subscribe(() => {}, { onError: (e: { code: string }) => subscriptionErrors.push(e.code) })
      client.topics.room("other")
      await expect(client.rpc.double(1)).rejects.toMatchObject({ code: "INTERNAL_ERROR" })
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(events).toEqual(["INTERNAL_ERROR"])
      expect(subscriptionErrors).toEqual(["INTERNAL_ERROR"])
      expect(unhandled).toEqual([])
    } finally {
      process.off("unhandledRejection", onUnhandled)
    }
  })
})

describe("streams and subscriptions, loaded on first use", () => {
  it("sends what was made while their modules load in the order it was made, then takes the direct path", async () => {
    await prepareContract(Api)
    const { transport, received } = server()
    const runtime = new ClientRuntime(Api, { url: "memory:", transports: [transport] }, compileContract)
    runtimes.push(runtime)
    const client = runtime.client as unknown as {
      rpc: { double(n: number): Promise<number> }
      streams: { count(n: number): AsyncIterable<number> }
      topics: { room(key: string): { subscribe(listener: (m: string) => void): () => void } }
    }
    const messages: string[] = []
    client.topics.room("k").subscribe((m) => messages.push(m))
    const doubled = client.rpc.double(1)
    const items: number[] = []
    const counted = (async () => {
      for await (const n of client.streams.count(2)) items.push(n)
    })()
    const again = client.rpc.double(2)
    expect(await doubled).toBe(2)
    expect(await again).toBe(4)
    await counted
    expect(items).toEqual([1, 2])
    // The subscription's message comes when it does (a loaded machine took more than 20 ms once).
    await expect.poll(() => messages).toEqual(["hello"])
    const types = (frames: unknown[][]) =>
      frames.filter((f) => f[0] !== FrameType.HELLO && f[0] !== FrameType.ACK).map((f) => f[0])
    expect(types(received)).toEqual([FrameType.SUBSCRIBE, FrameType.CALL, FrameType.STREAM, FrameType.CALL])
    // Both modules are there now: streams and subscriptions keep their order with calls.
    received.length = 0
    const iterator = client.streams.count(1)[Symbol.asyncIterator]()
    client.topics.room("other").subscribe(() => {})
    const call = client.rpc.double(3)
    expect(await call).toBe(6)
    expect(types(received)).toEqual([FrameType.STREAM, FrameType.SUBSCRIBE, FrameType.CALL])
    await iterator.return?.()
  })
})
