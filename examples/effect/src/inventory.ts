// #region service
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { OutOfStock, UnknownItem } from "./contract.ts"

/** The shop's stock: a service the handlers ask for, knowing nothing of Switchyard. */
export class Inventory extends Context.Service<
  Inventory,
  {
    /** Takes `quantity` units of `item`; the units left after. */
    readonly reserve: (item: string, quantity: number) => Effect.Effect<number, UnknownItem | OutOfStock>
    /** The units of `item`: now, then after every change. */
    readonly levels: (item: string) => Stream.Stream<number, UnknownItem>
  }
>()("example/Inventory") {}
// #endregion service

// #region layer
/** An Inventory in memory, starting from `stock` (units by item). */
export function inventoryInMemory(stock: Readonly<Record<string, number>>): Layer.Layer<Inventory> {
  return Layer.effect(
    Inventory,
    Effect.gen(function* () {
      // One SubscriptionRef per item: its `changes` stream gives the current value, then every update.
      const shelves = new Map<string, SubscriptionRef.SubscriptionRef<number>>()
      for (const [item, units] of Object.entries(stock)) shelves.set(item, yield* SubscriptionRef.make(units))
      const shelf = (item: string) => {
        const found = shelves.get(item)
        return found ? Effect.succeed(found) : Effect.fail(new UnknownItem({ item }))
      }
      return Inventory.of({
        reserve: (item, quantity) =>
          Effect.flatMap(shelf(item), (units) =>
            SubscriptionRef.modifyEffect(units, (left) =>
              left < quantity
                ? Effect.fail(new OutOfStock({ item, left }))
                : Effect.succeed([left - quantity, left - quantity] as const),
            ),
          ),
        levels: (item) => Stream.unwrap(Effect.map(shelf(item), SubscriptionRef.changes)),
      })
    }),
  )
}
// #endregion layer
