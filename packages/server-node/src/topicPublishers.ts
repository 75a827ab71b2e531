import type { AnyContract, CompiledContract, TypeOf } from "@switchyard/core"
import type { Runtime } from "./runtime.ts"
import type { TopicRegistry } from "./topics.ts"

// One promise for every publish the broker took at once: the memory broker's path allocates nothing.
const taken = Promise.resolve()

/** Server-side publishers, one per topic of the contract: `server.topics.room("lobby").publish(msg)`. */
export type TopicPublishers<C extends AnyContract> = {
  readonly [K in keyof C["topics"]]: (key: string) => {
    /**
     * Validates and publishes one message to every subscriber of this key, on every node. Throws
     * `INVALID_INPUT`. On the default broker it is delivered before `publish` returns; the promise says
     * when a cluster broker took it, and rejects with `BROKER_UNAVAILABLE` when it could not (the
     * rejection is also reported to `onError`, so an unawaited one is never lost nor unhandled).
     */
    publish(message: TypeOf<C["topics"][K]["message"]>): Promise<void>
    /**
     * Sessions subscribed to this key on this server. On a cluster broker a subscription counts once the
     * broker has answered it: a publish made after that reaches it.
     */
    readonly subscribers: number
  }
}

/** The publishers of every topic of the contract, over the server's registry. */
export function topicPublishers<C extends AnyContract>(
  contract: C,
  compiled: CompiledContract,
  topics: TopicRegistry,
  onError: Runtime["onError"],
): TopicPublishers<C> {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(contract.topics)) {
    const channel = compiled.topics.get(name)
    if (!channel) continue
    out[name] = (key: string) => ({
      publish: (message: unknown) => {
        const pending = topics.publish(channel, key, message)
        if (pending === undefined) return taken
        pending.catch((error: unknown) => onError(error, { channel: name }))
        return pending
      },
      get subscribers() {
        return topics.count(name, key)
      },
    })
  }
  return out as TopicPublishers<C>
}
