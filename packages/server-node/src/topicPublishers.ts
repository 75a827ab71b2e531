import type { AnyContract, CompiledContract, TypeOf } from "@switchyard/core"
import type { TopicRegistry } from "./topics.ts"

/** Server-side publishers, one per topic of the contract: `server.topics.room("lobby").publish(msg)`. */
export type TopicPublishers<C extends AnyContract> = {
  readonly [K in keyof C["topics"]]: (key: string) => {
    /** Validates and fans out one message to every subscriber of this key. Throws `INVALID_INPUT`. */
    publish(message: TypeOf<C["topics"][K]["message"]>): void
    /** Sessions subscribed to this key on this server. */
    readonly subscribers: number
  }
}

/** The publishers of every topic of the contract, over the server's registry. */
export function topicPublishers<C extends AnyContract>(
  contract: C,
  compiled: CompiledContract,
  topics: TopicRegistry,
): TopicPublishers<C> {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(contract.topics)) {
    const channel = compiled.topics.get(name)
    if (!channel) continue
    out[name] = (key: string) => ({
      publish: (message: unknown) => topics.publish(channel, key, message),
      get subscribers() {
        return topics.count(name, key)
      },
    })
  }
  return out as TopicPublishers<C>
}
