import type { AnyContract, AnySchema, CompiledContract, PresenceMember, TypeOf } from "@switchyard/core"
import type { PresenceHub } from "./presence.ts"
import type { Runtime } from "./runtime.ts"
import type { TopicRegistry } from "./topics.ts"

// One promise for every publish the broker took at once: the memory broker's path allocates nothing.
const taken = Promise.resolve()

/** The server's handle of one topic key. */
export interface TopicPublisher<M> {
  /**
   * Validates and publishes one message to every subscriber of this key, on every node. Throws
   * `INVALID_INPUT`. On the default broker it is delivered before `publish` returns; the promise says
   * when a cluster broker took it, and rejects with `BROKER_UNAVAILABLE` when it could not (the
   * rejection is also reported to `onError`, so an unawaited one is never lost nor unhandled).
   */
  publish(message: M): Promise<void>
  /**
   * Sessions subscribed to this key on this server. On a cluster broker a subscription counts once the
   * broker has answered it: a publish made after that reaches it.
   */
  readonly subscribers: number
}

/** A join or a leave of a topic key, as the app hears it on the server (docs/presence.md). */
export interface PresenceEvent<P> {
  readonly kind: "join" | "leave"
  readonly member: PresenceMember<P>
}

/** The presence of one key of a topic that declares it (docs/presence.md). */
export interface ServerPresence<P> {
  /**
   * The members of this key, on every node.
   * @example const online = (await server.topics.lobby("main").presence()).map((m) => m.data.name)
   */
  presence(): Promise<readonly PresenceMember<P>[]>
  /**
   * Hears each join and leave of this key from now on, made on any node (a member whose data changes is
   * told as a join with its new data). Returns the function that stops.
   * @example const off = server.topics.lobby("main").onPresence(({ kind, member }) => log(kind, member.id))
   */
  onPresence(listener: (event: PresenceEvent<P>) => void): () => void
}

/** Server-side publishers, one per topic of the contract: `server.topics.room("lobby").publish(msg)`. */
export type TopicPublishers<C extends AnyContract> = {
  readonly [K in keyof C["topics"]]: (
    key: string,
  ) => TopicPublisher<TypeOf<C["topics"][K]["message"]>> &
    (C["topics"][K]["presence"] extends AnySchema ? ServerPresence<TypeOf<C["topics"][K]["presence"]>> : unknown)
}

/** The publishers of every topic of the contract, over the server's registry and presence. */
export function topicPublishers<C extends AnyContract>(
  contract: C,
  compiled: CompiledContract,
  topics: TopicRegistry,
  presence: PresenceHub,
  onError: Runtime["onError"],
): TopicPublishers<C> {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(contract.topics)) {
    const channel = compiled.topics.get(name)
    if (!channel) continue
    const codec = channel.presence
    // Data on the bus was validated when the member joined; it is decoded for the app's types (dates…).
    const member = (id: string, data: string) => {
      const decoded = codec?.decode(JSON.parse(data))
      return { id, data: decoded?.ok ? decoded.value : undefined }
    }
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
      ...(codec && {
        presence: async () => (await presence.list(name, key)).map((e) => member(e.id, e.data)),
        onPresence: (listener: (event: PresenceEvent<unknown>) => void) =>
          presence.watch(name, key, (change) =>
            listener({ kind: change.kind, member: member(change.entry.id, change.entry.data) }),
          ),
      }),
    })
  }
  return out as TopicPublishers<C>
}
