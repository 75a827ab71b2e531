import { createServer, type Server } from "@switchyard/server-node"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Shop } from "./contract.ts"
import { Inventory, inventoryInMemory } from "./inventory.ts"

export interface ShopOptions {
  /** Default 0: a free port. */
  readonly port?: number
  /** Default: every interface (the URL says `localhost`). */
  readonly host?: string
  /** Units by item on the shelves at the start, for the default Inventory. */
  readonly stock?: Readonly<Record<string, number>>
  /** Another Inventory (a test's, a database's); default: `inventoryInMemory(stock)`. */
  readonly inventory?: Layer.Layer<Inventory>
}

/** A running shop: its Switchyard server, which holds the services it was built with. */
export interface RunningShop extends AsyncDisposable {
  /** What a client connects to, e.g. `http://localhost:3000/switchyard`. */
  readonly url: string
  readonly server: Server<Shop>
  close(): Promise<void>
}

/**
 * Serves the contract with handlers written as Effects that ask for the Inventory, provided by its Layer.
 *
 * @example
 * const shop = await startShop({ port: 3000, stock: { tea: 3 } })
 * console.log(shop.url)
 */
export async function startShop(options: ShopOptions = {}): Promise<RunningShop> {
  // #region layer
  // The services: built once by the server, released by `server.close()`.
  const layer = options.inventory ?? inventoryInMemory(options.stock ?? { tea: 3, biscuits: 12 })
  // #endregion layer

  // #region handlers
  const server = createServer(
    Shop,
    {
      rpc: {
        // An Effect: its success is the answer, its failure (the error channel) the typed error the client
        // gets, a defect an INTERNAL_ERROR. It is interrupted if the client cancels the call.
        reserve: ({ item, quantity }) =>
          Effect.gen(function* () {
            const inventory = yield* Inventory
            const left = yield* inventory.reserve(item, quantity)
            return { item, left }
          }),
      },
      streams: {
        // An Effect Stream: each element is an item; a failure ends the stream with the typed error; the
        // stream is interrupted when the client stops reading.
        stock: ({ item }) => Stream.unwrap(Inventory.useSync((inventory) => inventory.levels(item))),
      },
    },
    // What the handlers' Effects and Streams require (the Inventory) comes from this Layer.
    { layer },
  )
  // #endregion handlers

  // #region listen
  // Resolves once the Layer is built and the port is bound; rejects if either fails.
  const listening = await server.listen(options.port ?? 0, options.host).catch(async (error: unknown) => {
    await server.close()
    throw error
  })
  // #endregion listen
  const close = () => server.close()
  return { url: listening.url, server, close, [Symbol.asyncDispose]: close }
}
