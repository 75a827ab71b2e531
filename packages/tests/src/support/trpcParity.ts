// The parity suite: one tRPC app, the same assertions over any AppHarness (trpcApp.ts). Called once per
// runtime: trpc.parity.test.ts in Node, trpc.parity.chromium.test.ts in Chromium.
import { TRPCClientError } from "@trpc/client"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { type AppFixture, type AppHarness, type AppRouter, errorCodes } from "./trpcApp.ts"

const httpStatusOf = { UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, TOO_MANY_REQUESTS: 429 }
const jsonRpcCodeOf = {
  UNAUTHORIZED: -32001,
  FORBIDDEN: -32003,
  NOT_FOUND: -32004,
  CONFLICT: -32009,
  TOO_MANY_REQUESTS: -32029,
}

/** The error a promise rejects with, checked to be a TRPCClientError. */
async function rejection(promise: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(TRPCClientError)
  return error as TRPCClientError<AppRouter>
}

/** Everything a subscription's callbacks heard, and when it ended. */
function record<T>() {
  const heard: string[] = []
  const data: T[] = []
  const errors: TRPCClientError<AppRouter>[] = []
  let resolveEnd: () => void = () => {}
  const ended = new Promise<void>((resolve) => {
    resolveEnd = resolve
  })
  return {
    heard,
    data,
    errors,
    ended,
    callbacks: {
      onStarted: () => heard.push("started"),
      onData: (value: T) => {
        heard.push("data")
        data.push(value)
      },
      onError: (error: TRPCClientError<AppRouter>) => {
        heard.push("error")
        errors.push(error)
        resolveEnd()
      },
      onComplete: () => {
        heard.push("complete")
        resolveEnd()
      },
    },
  }
}

/** Runs every parity assertion over each harness. */
export function runTrpcParity(harnesses: readonly AppHarness[]): void {
  describe.each(harnesses)("tRPC app over $name", (harness) => {
    let app: AppFixture
    beforeEach(async () => {
      app = await harness.start("alice")
    })
    afterEach(async () => {
      await app.close()
    })

    it("runs a query with a zod input, and the context createContext made from the credentials", async () => {
      expect(await app.trpc.greet.query({ name: "ada" })).toBe("hello ada, from alice")
      expect(await app.trpc.whoami.query()).toBe("alice")
    })

    it("runs mutations in order, with an Effect schema through Standard Schema", async () => {
      expect(await app.trpc.add.mutate({ a: 1, b: 2 })).toBe(3)
      const results = await Promise.all([1, 2, 3].map((by) => app.trpc.increment.mutate({ by })))
      expect(results).toEqual([1, 3, 6])
    })

    it("carries superjson types both ways", async () => {
      const result = await app.trpc.dates.query({ at: new Date(5000) })
      expect(result.next).toBeInstanceOf(Date)
      expect(result.next.getTime()).toBe(6000)
      expect(result.tags).toEqual(new Set(["a", "b"]))
      expect(result.big).toBe(10n ** 20n)
    })

    it("reports a zod validation failure as BAD_REQUEST, through the errorFormatter", async () => {
      const error = await rejection(app.trpc.greet.query({ name: "" }))
      expect(error.data).toMatchObject({
        code: "BAD_REQUEST",
        httpStatus: 400,
        path: "greet",
        formatted: true,
        issues: 1,
      })
      expect(error.shape).toMatchObject({ code: -32600 })
      expect(error.message).toContain("too_small")
    })

    it("reports an Effect schema failure as BAD_REQUEST with its issues", async () => {
      const error = await rejection(app.trpc.add.mutate({ a: 1, b: "2" as unknown as number }))
      expect(error.data).toMatchObject({
        code: "BAD_REQUEST",
        httpStatus: 400,
        path: "add",
        formatted: true,
        issues: 1,
      })
    })

    it.each(errorCodes)("gives a TRPCError %s the same code, HTTP status, message and shape", async (code) => {
      const error = await rejection(app.trpc.refuse.mutate({ code }))
      expect(error.message).toBe(`refused: ${code}`)
      expect(error.shape).toEqual({
        code: jsonRpcCodeOf[code],
        message: `refused: ${code}`,
        data: { code, httpStatus: httpStatusOf[code], path: "refuse", formatted: true, issues: null },
      })
      expect(error.data).toEqual(error.shape?.data)
    })

    it("gives a thrown Error as INTERNAL_SERVER_ERROR with its message", async () => {
      const error = await rejection(app.trpc.crash.query())
      expect(error.message).toBe("boom")
      expect(error.data).toMatchObject({ code: "INTERNAL_SERVER_ERROR", httpStatus: 500, path: "crash" })
    })

    it("rejects an aborted query, and aborts its signal on the server where the link can tell it", async () => {
      const controller = new AbortController()
      const pending = app.trpc.slow.query({ tag: "a" }, { signal: controller.signal })
      await vi.waitFor(() => expect(app.log.events).toContain("slow a started"))
      controller.abort()
      await expect(pending).rejects.toThrow()
      if (app.cancelsQueries) await vi.waitFor(() => expect(app.log.events).toContain("slow a aborted"))
    })

    it("streams an async-generator subscription with tracked() ids, started before the data", async () => {
      const sub = record<{ id: string; data: { n: number; at: Date } }>()
      const subscription = app.trpc.ticks.subscribe({ count: 3 }, sub.callbacks)
      await vi.waitFor(() => expect(sub.data).toHaveLength(3))
      subscription.unsubscribe()
      expect(sub.heard.slice(0, 4)).toEqual(["started", "data", "data", "data"])
      expect(sub.data.map((item) => item.id)).toEqual(["0", "1", "2"])
      expect(sub.data.map((item) => item.data.n)).toEqual([0, 1, 2])
      expect(sub.data[2]?.data.at).toEqual(new Date(2000))
    })

    it("iterates a subscription with for await, and resumes from a lastEventId in the input", async () => {
      const seen: string[] = []
      for await (const item of await app.trpc.ticks.subscribe({ count: 5, lastEventId: "2" })) {
        seen.push(item.id)
        if (seen.length === 2) break
      }
      expect(seen).toEqual(["3", "4"])
    })

    it("streams an observable subscription", async () => {
      const sub = record<number>()
      const subscription = app.trpc.legacy.subscribe(undefined, sub.callbacks)
      await vi.waitFor(() => expect(sub.data).toEqual([1, 2]))
      subscription.unsubscribe()
    })

    it("ends a subscription whose procedure throws with the TRPCError, after what it yielded", async () => {
      const sub = record<string>()
      app.trpc.failing.subscribe(undefined, sub.callbacks)
      await sub.ended
      expect(sub.data).toEqual(["first"])
      expect(sub.errors).toHaveLength(1)
      expect(sub.errors[0]).toBeInstanceOf(TRPCClientError)
      expect(sub.errors[0]?.message).toBe("no more")
      expect(sub.errors[0]?.data).toMatchObject({ code: "FORBIDDEN", httpStatus: 403, path: "failing" })
    })

    it("stops a subscription on the server when the client unsubscribes", async () => {
      const sub = record<number>()
      const subscription = app.trpc.forever.subscribe({ tag: "f" }, sub.callbacks)
      await vi.waitFor(() => expect(sub.data).toEqual([1]))
      subscription.unsubscribe()
      await vi.waitFor(() => expect(app.log.events).toContain("forever f ended"))
    })
  })
}
