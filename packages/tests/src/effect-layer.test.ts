import { createClient, websocketTransport } from "@switchyard/client-browser"
import { contract, memoryTransport, rpc, type SwitchyardError, stream } from "@switchyard/core"
import { createServer, type Handlers } from "@switchyard/server-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { accepts, freePort } from "./support/daemon.ts"
import { testClientOptions } from "./support/harnesses.ts"
import { latch } from "./support/latch.ts"

// The server's `layer` option: handlers whose Effects and Streams require services, given them by a Layer
// built once, released by server.close() after what still runs has ended (docs/tutorial-effect.md).

const Boom = Schema.Struct({ _tag: Schema.Literal("Boom"), n: Schema.Number })
type Boom = typeof Boom.Type
const Api = contract({
  rpc: {
    next: rpc({ input: Schema.Struct({}), output: Schema.Number }),
    check: rpc({ input: Schema.Struct({ n: Schema.Number }), output: Schema.Number, error: Boom }),
    hold: rpc({ input: Schema.Struct({}), output: Schema.Number }),
    plain: rpc({ input: Schema.Struct({}), output: Schema.String }),
  },
  streams: {
    ticks: stream({ input: Schema.Struct({ count: Schema.Number }), item: Schema.Number, error: Boom }),
    forever: stream({ input: Schema.Struct({}), item: Schema.Number }),
  },
})
type Api = typeof Api

/** A service that counts, fails for negative numbers, and writes what happens to the test's `lines`. */
class Ledger extends Context.Service<
  Ledger,
  {
    readonly next: Effect.Effect<number>
    readonly check: (n: number) => Effect.Effect<number, Boom>
    readonly note: (line: string) => Effect.Effect<void>
  }
>()("test/Ledger") {}

/** Its Layer: "built" once acquired (after `gate`, if given: interruptibly), "released" by its finalizer. */
function ledger(lines: string[], gate?: Promise<void>): Layer.Layer<Ledger> {
  const acquire = Effect.sync(() => {
    lines.push("built")
    let n = 0
    return Ledger.of({
      next: Effect.sync(() => ++n),
      check: (value) => (value < 0 ? Effect.fail({ _tag: "Boom" as const, n: value }) : Effect.succeed(value)),
      note: (line) => Effect.sync(() => void lines.push(line)),
    })
  })
  const resource = Effect.acquireRelease(acquire, () => Effect.sync(() => void lines.push("released")))
  return Layer.effect(
    Ledger,
    gate
      ? Effect.andThen(
          Effect.promise(() => gate),
          resource,
        )
      : resource,
  )
}

/** A finalizer that takes a while, as closing a transaction would: it must still find the services in place. */
const slowly = (line: string) => Effect.sleep("30 millis").pipe(Effect.andThen(Ledger.use((l) => l.note(line))))

const handlers: Handlers<Api, undefined, Ledger> = {
  rpc: {
    next: () => Ledger.use((l) => l.next),
    check: ({ n }) => Ledger.use((l) => l.check(n)),
    hold: () =>
      Ledger.use((l) =>
        l.note("held").pipe(
          Effect.andThen(Effect.never),
          Effect.onInterrupt(() => slowly("hold interrupted")),
        ),
      ),
    plain: () => "plain",
  },
  streams: {
    ticks: ({ count }) =>
      Stream.range(1, Math.abs(count)).pipe(
        Stream.mapEffect(() => Ledger.use((l) => l.next)),
        Stream.concat(count < 0 ? Stream.fromEffect(Ledger.use((l) => l.check(count))) : Stream.empty),
      ),
    forever: () => Stream.iterate(1, (n) => n + 1).pipe(Stream.ensuring(slowly("forever ended"))),
  },
}

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close()
})

/** A server with `layer` on 127.0.0.1 and a WebSocket client of it. */
async function served(layer: Layer.Layer<Ledger, unknown>, errors: unknown[] = []) {
  const server = createServer(Api, handlers, { layer, onError: (error) => errors.push(error) })
  cleanup.push(() => server.close())
  const { url } = await server.listen(0, "127.0.0.1")
  const client = createClient(Api, { url, transports: [websocketTransport({ WebSocket })], ...testClientOptions })
  cleanup.push(() => client.close())
  return { server, client }
}

/** A server with `layer`, not listening, and a client of it in memory (through `server.accept`). */
function inMemory(layer: Layer.Layer<Ledger, unknown>, errors: unknown[]) {
  const server = createServer(Api, handlers, { layer, onError: (error) => errors.push(error) })
  cleanup.push(() => server.close())
  const client = createClient(Api, {
    url: "memory:",
    transports: [memoryTransport(server.accept)],
    ...testClientOptions,
  })
  cleanup.push(() => client.close())
  return { server, client }
}

const codeOf = (error: unknown) => (error as SwitchyardError).code

describe("a server given a layer", () => {
  it("gives its services to RPC and stream handlers, built once", async () => {
    const lines: string[] = []
    const { client } = await served(ledger(lines))
    expect(await client.rpc.next({})).toBe(1)
    expect(await client.rpc.next({})).toBe(2)
    const items: number[] = []
    for await (const n of client.streams.ticks({ count: 3 })) items.push(n)
    expect(items).toEqual([3, 4, 5])
    expect(await client.rpc.plain({})).toBe("plain")
    expect(lines).toEqual(["built"])
  })

  it("keeps a service's failures typed, for calls and streams", async () => {
    const { client } = await served(ledger([]))
    const error = await client.rpc.check({ n: -1 }).catch((e: unknown) => e)
    expect(codeOf(error)).toBe("FAILURE")
    expect((error as SwitchyardError).data).toEqual({ _tag: "Boom", n: -1 })
    const items: number[] = []
    const ended = await (async () => {
      for await (const n of client.streams.ticks({ count: -2 })) items.push(n)
    })().catch((e: unknown) => e)
    expect(items).toEqual([1, 2])
    expect(codeOf(ended)).toBe("FAILURE")
    expect((ended as SwitchyardError).data).toEqual({ _tag: "Boom", n: -2 })
  })

  it("interrupts a cancelled call and a stream the client stopped reading; their finalizers use the services", async () => {
    const lines: string[] = []
    const { client } = await served(ledger(lines))
    const controller = new AbortController()
    const call = client.rpc.hold({}, { signal: controller.signal }).catch((e: unknown) => e)
    await expect.poll(() => lines.includes("held"), { timeout: 2000 }).toBe(true)
    controller.abort()
    expect(codeOf(await call)).toBe("CANCELLED")
    await expect.poll(() => lines.includes("hold interrupted"), { timeout: 2000 }).toBe(true)

    const items: number[] = []
    for await (const n of client.streams.forever({})) {
      items.push(n)
      if (items.length === 3) break
    }
    expect(items).toEqual([1, 2, 3])
    await expect.poll(() => lines.includes("forever ended"), { timeout: 2000 }).toBe(true)
    expect(lines).not.toContain("released")
  })

  it("releases the layer on close(), after the calls and streams still running were interrupted", async () => {
    const lines: string[] = []
    const { server, client } = await served(ledger(lines))
    const call = client.rpc.hold({}).catch((e: unknown) => e)
    const reading = (async () => {
      for await (const _ of client.streams.forever({})) lines.push("item")
    })().catch((e: unknown) => e)
    await expect.poll(() => lines.includes("held") && lines.includes("item"), { timeout: 2000 }).toBe(true)
    await server.close()
    // Both finalizers ran with the services in place, and the layer's last of all.
    expect(lines).toContain("hold interrupted")
    expect(lines).toContain("forever ended")
    expect(lines.filter((line) => line === "released")).toHaveLength(1)
    expect(lines.at(-1)).toBe("released")
    await client.close()
    await Promise.all([call, reading])
  })

  it("makes listen() reject when the layer fails to build", async () => {
    const errors: unknown[] = []
    const cause = new Error("no database")
    const failing = Layer.effect(Ledger, Effect.fail(cause))
    const server = createServer(Api, handlers, { layer: failing, onError: (error) => errors.push(error) })
    const error = await server.listen(0, "127.0.0.1").catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toBe("switchyard: options.layer failed to build: no database")
    expect((error as Error).cause).toBe(cause)
    // listen() said it: onError is not told again.
    expect(errors).toEqual([])
    await server.close()
  })

  it("reports a layer that fails to build to onError without listen(), and fails Effect handlers with INTERNAL_ERROR", async () => {
    const errors: unknown[] = []
    const failing = Layer.effect(Ledger, Effect.die(new Error("no database")))
    const { client } = inMemory(failing, errors)
    await expect.poll(() => errors.length, { timeout: 2000 }).toBe(1)
    expect((errors[0] as Error).message).toBe("switchyard: options.layer failed to build: no database")
    expect(codeOf(await client.rpc.next({}).catch((e: unknown) => e))).toBe("INTERNAL_ERROR")
    const stream = await (async () => {
      for await (const _ of client.streams.ticks({ count: 1 })) throw new Error("no item was expected")
    })().catch((e: unknown) => e)
    expect(codeOf(stream)).toBe("INTERNAL_ERROR")
    // Each failed handler is reported with the same error; a handler that is no Effect still answers.
    expect(errors).toEqual([errors[0], errors[0], errors[0]])
    expect(await client.rpc.plain({})).toBe("plain")
  })

  it("holds the calls and streams that arrive while the layer is being built until it is", async () => {
    const lines: string[] = []
    const { opened: gate, open } = latch()
    const { client } = inMemory(ledger(lines, gate), [])
    let answered = false
    const call = client.rpc.next({}).then((n) => {
      answered = true
      return n
    })
    const items = (async () => {
      const got: number[] = []
      for await (const n of client.streams.ticks({ count: 2 })) got.push(n)
      return got
    })()
    // A handler that is no Effect answers meanwhile; the call behind the layer has not.
    expect(await client.rpc.plain({})).toBe("plain")
    expect(answered).toBe(false)
    open()
    const n = await call
    expect([n, ...(await items)].sort()).toEqual([1, 2, 3])
    expect(lines).toEqual(["built"])
  })

  it("never runs a call cancelled while the layer was being built, nor one whose session ended meanwhile", async () => {
    const lines: string[] = []
    const { opened: gate, open } = latch()
    const { server, client } = inMemory(ledger(lines, gate), [])
    const other = createClient(Api, {
      url: "memory:",
      transports: [memoryTransport(server.accept)],
      ...testClientOptions,
    })
    cleanup.push(() => other.close())
    // Both calls wait for the layer; the ledger counts each `next` that runs.
    const controller = new AbortController()
    const cancelled = client.rpc.next({}, { signal: controller.signal }).catch(codeOf)
    const abandoned = other.rpc.next({}).catch(codeOf)
    expect(await other.rpc.plain({})).toBe("plain")
    controller.abort()
    expect(await cancelled).toBe("CANCELLED")
    // The server has read the CANCEL once it answers what the client sent after it.
    expect(await client.rpc.plain({})).toBe("plain")
    await other.close()
    expect(await abandoned).toBe("CLIENT_CLOSED")
    await expect.poll(() => server.sessionCount).toBe(1)
    open()
    // Had either run, this would be 2 or 3.
    expect(await client.rpc.next({})).toBe(1)
    expect(lines).toEqual(["built"])
  })

  it.each([
    ["is still being built", false],
    ["is built in the same moment", true],
  ])("makes listen() reject when close() comes while the layer %s, and binds no port", async (_, built) => {
    const lines: string[] = []
    const { opened: gate, open } = latch()
    const server = createServer(Api, handlers, { layer: ledger(lines, gate), onError: () => {} })
    const port = await freePort()
    const listening = server.listen(port, "127.0.0.1").then(
      () => "listening",
      (error: unknown) => (error as Error).message,
    )
    await new Promise((resolve) => setImmediate(resolve))
    if (built) open()
    await server.close()
    expect(await listening).toMatch(/^switchyard: the server is clos(ing|ed)$/)
    expect(await accepts(port)).toBe(false)
    expect(lines).toEqual(built ? ["built", "released"] : [])
  })

  it("closes while its layer is still being built: the build is interrupted, nothing reported", async () => {
    const errors: unknown[] = []
    const lines: string[] = []
    const server = createServer(Api, handlers, {
      layer: ledger(lines, new Promise(() => {})),
      onError: (error) => errors.push(error),
    })
    await server.close()
    expect(lines).toEqual([])
    expect(errors).toEqual([])
  })
})
