import { closeCodeOf, control, decodeServerFrame, type ErrorCode, errorCodes, FrameType } from "@switchyard/core"
import { type TestServerState, waitFor } from "@switchyard/core/testing"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import {
  bystanders,
  fuzzParams,
  fuzzTestTimeoutMs,
  garbage,
  maxInvalidFrames,
  refusalOf,
  shapedFrame,
  watchUncaught,
} from "./support/fuzz.ts"
import { startTestServer } from "./support/harnesses.ts"

/**
 * Fuzzed WebSocket messages from raw `ws` sockets to a live server (fast-check; bounded in runs and time,
 * FUZZ_RUNS raises it for the soak): each refused message gets the NOTICE the codec names, the one past
 * `maxInvalidFrames` closes with that code's close code, the session goes on otherwise, nothing the server
 * sends is a frame a client would refuse, no exception escapes, and honest clients on every transport
 * notice nothing (docs/errors.md#invalid_frame).
 */

/** A raw socket past its handshake: what it received, and how it closed. */
class RawSocket {
  readonly frames: unknown[][] = []
  readonly unreadable: string[] = []
  closed: number | undefined

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, binary) => {
      const text = data.toString()
      if (binary || !decodeServerFrame(text).ok) this.unreadable.push(text)
      else this.frames.push(JSON.parse(text) as unknown[])
    })
    ws.on("close", (code) => (this.closed = code))
    ws.on("error", () => {})
  }

  static async open(url: string): Promise<RawSocket> {
    const socket = new RawSocket(new WebSocket(url.replace("http:", "ws:")))
    await new Promise((resolve, reject) => {
      socket.ws.once("open", resolve)
      socket.ws.once("error", reject)
    })
    socket.ws.send(control.hello(1, null, 0))
    await waitFor(() => socket.frames.some((f) => f[0] === FrameType.WELCOME), 3000, "WELCOME")
    return socket
  }

  of(type: FrameType): unknown[][] {
    return this.frames.filter((f) => f[0] === type)
  }
}

const documentedCloses = new Set([1000, 1001, 1006, ...Object.keys(errorCodes).map((c) => closeCodeOf(c as ErrorCode))])

describe("fuzzed WebSocket messages to a live server", () => {
  const state: TestServerState = { aborted: new Set() }
  const server = startTestServer({}, state)
  let url: string
  let stopWatching: () => unknown[]
  let honest: Awaited<ReturnType<typeof bystanders>>
  const sockets: RawSocket[] = []
  const open = async () => {
    const socket = await RawSocket.open(url)
    sockets.push(socket)
    return socket
  }
  const done = (socket: RawSocket) => {
    socket.ws.terminate()
    sockets.splice(sockets.indexOf(socket), 1)
  }

  beforeAll(async () => {
    url = (await server.listen(0, "127.0.0.1")).url
    stopWatching = watchUncaught()
    honest = await bystanders(server, url)
  })
  afterAll(async () => {
    for (const socket of sockets) socket.ws.terminate()
    await honest?.close()
    stopWatching?.()
    await server.close()
  })

  it(
    "answers each refused message with the NOTICE the codec names, and closes on the one past the bound",
    async () => {
      let messages = 0
      await fc.assert(
        fc.asyncProperty(
          fc.array(garbage({ binary: true }), { minLength: 1, maxLength: maxInvalidFrames + 1 }),
          async (batch) => {
            const socket = await open()
            for (const message of batch) socket.ws.send(message)
            messages += batch.length
            const codes = batch.map((m) => refusalOf(m) as string)
            if (batch.length > maxInvalidFrames) {
              // The one past the bound: its NOTICE, then the violation's NOTICE and the close.
              await waitFor(() => socket.closed !== undefined, 3000, "the close")
              const last = codes.at(-1) as ErrorCode
              expect(socket.closed).toBe(closeCodeOf(last))
              expect(socket.of(FrameType.NOTICE).map((f) => f[1])).toEqual([...codes, last])
            } else {
              const id = 7
              socket.ws.send(JSON.stringify([FrameType.CALL, 1, id, "add", { a: 2, b: 3 }]))
              await waitFor(() => socket.of(FrameType.RESULT).length > 0, 3000, "the RESULT after the refusals")
              expect(socket.of(FrameType.NOTICE).map((f) => f[1])).toEqual(codes)
              expect(socket.of(FrameType.RESULT)).toEqual([[FrameType.RESULT, 1, id, 5]])
              expect(socket.closed).toBeUndefined()
            }
            expect(socket.unreadable).toEqual([])
            done(socket)
          },
        ),
        fuzzParams(60),
      )
      expect(messages).toBeGreaterThan(0)
    },
    fuzzTestTimeoutMs(),
  )

  it(
    "ends random well-shaped frames in documented answers and closes only",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(shapedFrame, { minLength: 1, maxLength: 24 }), async (batch) => {
          const socket = await open()
          for (const frame of batch) socket.ws.send(frame)
          // Whatever those did, a PONG is answered by nothing, and a CALL numbered past them either gets
          // its answer or finds the connection closed for a documented reason: wait for either.
          socket.ws.send(JSON.stringify([FrameType.CALL, 10_000, 1, "add", { a: 1, b: 1 }]))
          await new Promise((resolve) => setTimeout(resolve, 20))
          if (socket.closed !== undefined) expect(documentedCloses.has(socket.closed), String(socket.closed)).toBe(true)
          for (const f of [...socket.of(FrameType.NOTICE), ...socket.of(FrameType.BYE)]) {
            expect(Object.hasOwn(errorCodes, f[1] as string), String(f[1])).toBe(true)
          }
          for (const f of socket.of(FrameType.ERROR)) expect(Object.hasOwn(errorCodes, f[3] as string)).toBe(true)
          expect(socket.unreadable).toEqual([])
          done(socket)
        }),
        fuzzParams(60),
      )
    },
    fuzzTestTimeoutMs(),
  )

  it("leaves no uncaught exception, and the honest clients on every transport saw nothing", async () => {
    const { published, calls } = await honest.check()
    expect(published).toBeGreaterThan(0)
    expect(calls).toBeGreaterThan(0)
    expect(stopWatching()).toEqual([])
    // The server still serves a new connection.
    const socket = await open()
    socket.ws.send(JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 20, b: 22 }]))
    await waitFor(() => socket.of(FrameType.RESULT).length > 0, 3000, "a RESULT")
    expect(socket.of(FrameType.RESULT)).toEqual([[FrameType.RESULT, 1, 1, 42]])
  })
})
