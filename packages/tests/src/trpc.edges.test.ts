// Edges of tRPC over Switchyard: a path past MAX_PATH_LENGTH, a procedure that does not exist, a query that
// returns an iterable, a session really lost under a subscription (restarted with its lastEventId), each
// answered with a clear error and never a crash.

import { websocketTransport } from "@switchyard/client-browser"
import { SwitchyardError } from "@switchyard/core"
import { MAX_PATH_LENGTH, switchyardLink } from "@switchyard/trpc/client"
import { createTrpcServer } from "@switchyard/trpc/server"
import { createTRPCUntypedClient, TRPCClientError } from "@trpc/client"
import { initTRPC, tracked } from "@trpc/server"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import WebSocket from "ws"
import { z } from "zod"
import { fastReconnect } from "./support/harnesses.ts"

const t = initTRPC.create()
const starts: (string | undefined)[] = []
const router = t.router({
  ok: t.procedure.query(() => "ok"),
  iterable: t.procedure.query(async function* () {
    yield 1
  }),
  numbers: t.procedure
    .input(z.object({ lastEventId: z.string().optional() }).optional())
    .subscription(async function* ({ input, signal }) {
      starts.push(input?.lastEventId)
      let n = input?.lastEventId === undefined ? 0 : Number(input.lastEventId) + 1
      yield tracked(String(n), n++)
      yield tracked(String(n), n++)
      await new Promise((resolve) => signal?.addEventListener("abort", resolve))
    }),
})

async function rejection(promise: Promise<unknown>): Promise<TRPCClientError<typeof router>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(TRPCClientError)
  return error as TRPCClientError<typeof router>
}

describe("tRPC over Switchyard: edges", () => {
  let server: ReturnType<typeof createTrpcServer>
  let link: ReturnType<typeof switchyardLink<typeof router>>
  let trpc: ReturnType<typeof createTRPCUntypedClient<typeof router>>
  let port = 0
  beforeEach(async () => {
    starts.length = 0
    server = createTrpcServer(router, { onError: () => {} })
    const listening = await server.listen(0, "127.0.0.1")
    port = listening.port
    link = switchyardLink<typeof router>({
      url: listening.url,
      transports: [websocketTransport({ WebSocket: WebSocket as never })],
      reconnect: fastReconnect,
    })
    trpc = createTRPCUntypedClient<typeof router>({ links: [link] })
  })
  afterEach(async () => {
    await link.client.close()
    await server.close()
  })

  it("refuses a path longer than MAX_PATH_LENGTH before it runs, with INVALID_INPUT", async () => {
    const error = await rejection(trpc.query("x".repeat(MAX_PATH_LENGTH + 1)))
    expect(error.cause).toBeInstanceOf(SwitchyardError)
    expect((error.cause as SwitchyardError).code).toBe("INVALID_INPUT")
    expect(await trpc.query("ok")).toBe("ok")
  })

  it("answers a procedure that does not exist with NOT_FOUND, and one of another type too", async () => {
    const missing = await rejection(trpc.query("nope"))
    expect(missing.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404, path: "nope" })
    const wrongType = await rejection(trpc.mutation("ok"))
    expect(wrongType.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404 })
  })

  it("refuses a query that returns an async iterable with UNSUPPORTED_MEDIA_TYPE, as the ws adapter does", async () => {
    const error = await rejection(trpc.query("iterable"))
    expect(error.data).toMatchObject({ code: "UNSUPPORTED_MEDIA_TYPE", httpStatus: 415 })
  })

  it("restarts a subscription with its lastEventId when the session is really lost", async () => {
    const data: { id: string; data: number }[] = []
    const states: string[] = []
    const subscription = trpc.subscription("numbers", undefined, {
      onData: (item) => data.push(item as { id: string; data: number }),
      onConnectionStateChange: (state) => states.push(state.state),
    })
    await vi.waitFor(() => expect(data).toHaveLength(2))
    // The server restarts: the session is gone, the client gets a new one, and the link subscribes again.
    await server.close()
    server = createTrpcServer(router, { onError: () => {} })
    await server.listen(port, "127.0.0.1")
    await vi.waitFor(() => expect(data.map((item) => item.id)).toEqual(["0", "1", "2", "3"]))
    expect(starts).toEqual([undefined, "1"])
    expect(states).toContain("connecting")
    subscription.unsubscribe()
  })
})
