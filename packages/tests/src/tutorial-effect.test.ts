import { createClient, websocketTransport } from "@switchyard/client-browser"
import { isFailure } from "@switchyard/core"
import { runClient } from "@switchyard/example-effect/client"
import { OutOfStock, Shop } from "@switchyard/example-effect/contract"
import { Inventory, inventoryInMemory } from "@switchyard/example-effect/inventory"
import { type RunningShop, startShop } from "@switchyard/example-effect/server"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { afterAll, beforeAll, expect, it } from "vitest"
import WebSocket from "ws"

// docs/tutorial-effect.md, end to end: the example shop (examples/effect) on 127.0.0.1, its handlers
// Effects and Effect Streams over a service from a Layer, and its Effect client in Node.

let shop: RunningShop
/** How many of the server's `levels` streams have ended (completed, failed or been interrupted). */
let ended = 0

beforeAll(async () => {
  // The tutorial's in-memory Inventory, wrapped by a Layer of the test's own that counts ended streams.
  const counting = Layer.effect(
    Inventory,
    Effect.gen(function* () {
      const inventory = yield* Inventory
      return Inventory.of({
        ...inventory,
        levels: (item) => inventory.levels(item).pipe(Stream.ensuring(Effect.sync(() => ended++))),
      })
    }),
  ).pipe(Layer.provide(inventoryInMemory({ tea: 3 })))
  shop = await startShop({ port: 0, host: "127.0.0.1", inventory: counting })
})

afterAll(async () => {
  await shop?.close()
})

it("the client sees each result, each typed failure and the stream's levels, as the tutorial shows", async () => {
  const lines: string[] = []
  await runClient(shop.url, (line) => lines.push(line))
  // The watcher runs beside the calls: a level may come just before or after the answer that changed it,
  // so each side's lines are in order, and the first level comes before any reservation.
  const levels = lines.filter((line) => line.startsWith("tea in stock: "))
  expect(levels).toEqual(["tea in stock: 3", "tea in stock: 1", "tea in stock: 0"])
  expect(lines[0]).toBe("tea in stock: 3")
  expect(lines.filter((line) => !levels.includes(line))).toEqual([
    "reserved 2 tea, 1 left",
    "out of stock: 1 tea left",
    "reserved the last tea, 0 left",
    "no such item: coffee",
  ])
  expect(lines).toHaveLength(7)
  // The tea stream never ends on the server's side: the client took three levels and stopped reading,
  // which interrupted it there; the coffee stream ended with its failure.
  await expect.poll(() => ended, { timeout: 2000 }).toBe(2)
})

it("a typed failure reaches a plain client as the contract's class, decoded", async () => {
  const client = createClient(Shop, { url: shop.url, transports: [websocketTransport({ WebSocket })] })
  try {
    const error = await client.rpc.reserve({ item: "tea", quantity: 1 }).catch((e: unknown) => e)
    if (!isFailure<unknown>(error)) throw new Error(`not a typed failure: ${String(error)}`)
    expect(error.data).toBeInstanceOf(OutOfStock)
    expect(error.data).toMatchObject({ _tag: "OutOfStock", item: "tea", left: 0 })
  } finally {
    await client.close()
  }
})

it("run again on the emptied shelf, the first reservation fails unhandled and the program dies with it", async () => {
  const lines: string[] = []
  const died = await runClient(shop.url, (line) => lines.push(line)).then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(died).toBeInstanceOf(OutOfStock)
  expect(died).toMatchObject({ item: "tea", left: 0 })
  expect(lines).toEqual(["tea in stock: 0"])
})
