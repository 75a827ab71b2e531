import { createClient, websocketTransport } from "@switchyard/client-browser"
import { type Client, type ErrorOf, isFailure } from "@switchyard/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
// Node 20 has no WebSocket of its own: hand the client the `ws` package's.
import WebSocket from "ws"
import { Shop } from "./contract.ts"

// #region bridge
/**
 * A call as an Effect: the contract's declared failure in the error channel, anything else (a lost
 * session, a bug) a defect. Interrupting the Effect cancels the call (its `signal`).
 */
export function fromCall<A, E>(call: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, E> {
  return Effect.tryPromise({ try: call, catch: (error) => error }).pipe(
    Effect.catch((error) => (isFailure<E>(error) ? Effect.fail(error.data) : Effect.die(error))),
  )
}

/** A stream as an Effect Stream, the same way; it is opened when run, and ending it early cancels it. */
export function fromStream<A, E>(open: () => AsyncIterable<A>): Stream.Stream<A, E> {
  return Stream.suspend(() => Stream.fromAsyncIterable(open(), (error) => error)).pipe(
    Stream.catch((error) => (isFailure<E>(error) ? Stream.fail(error.data) : Stream.die(error))),
  )
}
// #endregion bridge

// #region program
/** Watches the tea while reserving some, and meets each typed failure. */
export function shopping(client: Client<Shop>, log: (line: string) => void): Effect.Effect<void> {
  const reserve = (item: string, quantity: number) =>
    fromCall<{ item: string; left: number }, ErrorOf<Shop["rpc"]["reserve"]>>((signal) =>
      client.rpc.reserve({ item, quantity }, { signal }),
    )
  const stock = (item: string) =>
    fromStream<number, ErrorOf<Shop["streams"]["stock"]>>(() => client.streams.stock({ item }))

  return Effect.gen(function* () {
    // Watch the tea in the background: the level now, then after each change (three levels, then stop).
    const watching = yield* Deferred.make<void>()
    const watcher = yield* stock("tea").pipe(
      Stream.tap(() => Deferred.succeed(watching, undefined)),
      Stream.take(3),
      Stream.runForEach((left) => Effect.sync(() => log(`tea in stock: ${left}`))),
      Effect.forkChild,
    )
    yield* Deferred.await(watching)

    const { left } = yield* reserve("tea", 2)
    log(`reserved 2 tea, ${left} left`)

    // A typed failure is a value in the error channel: matched by its tag, like any Effect error.
    const more = reserve("tea", 2).pipe(
      Effect.map(({ left }) => `reserved 2 more tea, ${left} left`),
      Effect.catchTag("OutOfStock", (e) => Effect.succeed(`out of stock: ${e.left} ${e.item} left`)),
    )
    log(yield* more)
    log(`reserved the last tea, ${(yield* reserve("tea", 1)).left} left`)
    yield* Fiber.join(watcher)

    // A stream's typed failure ends it, in its error channel too.
    const coffee = stock("coffee").pipe(
      Stream.runDrain,
      Effect.as("coffee is in stock"),
      Effect.catchTag("UnknownItem", (e) => Effect.succeed(`no such item: ${e.item}`)),
    )
    log(yield* coffee)
    // The reservations left unhandled are meant to succeed: if one fails, this program is wrong about
    // the shop, a defect rather than a case to handle.
  }).pipe(Effect.orDie)
}
// #endregion program

// #region run
/** Runs `shopping` against the shop at `url` (e.g. `http://localhost:3000/switchyard`). */
export function runClient(url: string, log: (line: string) => void = console.log): Promise<void> {
  const client = Effect.acquireRelease(
    Effect.sync(() => createClient(Shop, { url, transports: [websocketTransport({ WebSocket })] })),
    (client) => Effect.promise(() => client.close()),
  )
  return Effect.runPromise(Effect.scoped(Effect.flatMap(client, (client) => shopping(client, log))))
}
// #endregion run
