// Types only: whatever this module imported from core or the client at run time would be shared with the
// client's main chunk, and a bundler splitting on `import()` would load that shared chunk at startup. What
// it runs of them comes in `kit` (featureKit.ts).
import type {
  CompiledTopic,
  PayloadCodec,
  PresenceEventFrame,
  PresenceList,
  PresenceListeners,
  PresenceMember,
  SwitchyardError,
} from "@switchyard/core"
import type { PendingTable } from "./calls.ts"
import type { FeatureKit } from "./featureKit.ts"
import type { Wire } from "./wire.ts"

/** `FrameType.PRESENCE`, as a literal: importing the enum would share core with the main chunk. */
const PRESENCE: 15 = 15

/** A request's output as it came: presence checks its own. */
const passThrough: PayloadCodec = { decode: (value) => ({ ok: true, value }), encode: (value) => ({ ok: true, value }) }

/**
 * The client's presence (docs/presence.md): `presence()` requests, and the join and leave listeners of
 * subscriptions that asked for them. Loaded with `import()` on first use, so that an app that never
 * uses presence does not carry it.
 */

interface Known {
  readonly data: unknown
  /** The data as the server sent it, to tell a change of data from the same member again. */
  readonly raw: string
}

interface Watch {
  readonly topic: string
  readonly key: string
  readonly codec: PayloadCodec
  /** The members as this client knows them: the last list, with the events since applied. */
  members: Map<string, Known>
  readonly listeners: Set<PresenceListeners<unknown>>
}

/** Whether a PRESENCE request's output is a list of `[member id, data]`. */
const isList = (value: unknown): value is PresenceList =>
  Array.isArray(value) && value.every((m) => Array.isArray(m) && m.length === 2 && typeof m[0] === "string")

export class ClientPresence {
  readonly #watches = new Map<string, Watch>()
  readonly #wire: Wire
  /** The pending requests, where a PRESENCE request waits for its RESULT like a call. */
  readonly #pending: () => PendingTable
  readonly #kit: FeatureKit

  constructor(wire: Wire, pending: () => PendingTable, kit: FeatureKit) {
    this.#wire = wire
    this.#pending = pending
    this.#kit = kit
  }

  /** The members of a key now. */
  async list(channel: CompiledTopic, key: string): Promise<PresenceMember<unknown>[]> {
    const list = await new Promise<PresenceList>((resolve, reject) =>
      this.#request(channel.name, key, false, resolve, reject),
    )
    const out: PresenceMember<unknown>[] = []
    for (const [id, raw] of list) {
      const decoded = (channel.presence as PayloadCodec).decode(raw)
      if (!decoded.ok) throw this.#invalid(channel.name, decoded.error)
      out.push({ id, data: decoded.value })
    }
    return out
  }

  /**
   * Adds join/leave listeners to a key the client subscribes to. The first listeners of a key ask the
   * server for its members and its events; later ones hear the members known so far as joins at once.
   */
  watch(channel: CompiledTopic, key: string, listeners: PresenceListeners<unknown>): () => void {
    const ref = `${channel.name}\u0000${key}`
    const entry = { ...listeners }
    let watch = this.#watches.get(ref)
    if (!watch) {
      watch = {
        topic: channel.name,
        key,
        codec: channel.presence as PayloadCodec,
        members: new Map(),
        listeners: new Set(),
      }
      this.#watches.set(ref, watch)
      this.#send(watch)
    } else {
      for (const [id, known] of watch.members) this.#call(entry.join, { id, data: known.data })
    }
    watch.listeners.add(entry)
    const current = watch
    return () => {
      if (!current.listeners.delete(entry) || current.listeners.size > 0) return
      if (this.#watches.get(ref) === current) this.#watches.delete(ref)
    }
  }

  /** A PRESENCE_EVENT frame. */
  event(frame: PresenceEventFrame): void {
    const watch = this.#watches.get(`${frame[2]}\u0000${frame[3]}`)
    if (!watch) return
    const [, , , , kind, id, raw] = frame
    const held = watch.members.get(id)
    if (kind === "leave") {
      if (!held) return
      watch.members.delete(id)
      return this.#tell(watch, "leave", id, held.data)
    }
    const known = this.#decode(watch, raw)
    if (!known || held?.raw === known.raw) return
    watch.members.set(id, known)
    this.#tell(watch, "join", id, known.data)
  }

  /** A new session: ask again for each watched key; what changed meanwhile is told as joins and leaves. */
  fresh(): void {
    for (const watch of this.#watches.values()) this.#send(watch)
  }

  clear(): void {
    this.#watches.clear()
  }

  /**
   * Asks for a key's members and events, and applies the list: members gone leave, new ones join. The
   * list is applied as its RESULT arrives, not a microtask later, so that the events that follow it in
   * the same batch apply after it.
   */
  #send(watch: Watch): void {
    this.#request(
      watch.topic,
      watch.key,
      true,
      (list) => {
        if (this.#watches.get(`${watch.topic}\u0000${watch.key}`) !== watch) return
        const next = new Map<string, Known>()
        for (const [id, raw] of list) {
          const known = this.#decode(watch, raw)
          if (known) next.set(id, known)
        }
        const before = watch.members
        watch.members = next
        for (const [id, held] of before) if (!next.has(id)) this.#tell(watch, "leave", id, held.data)
        for (const [id, known] of next) if (before.get(id)?.raw !== known.raw) this.#tell(watch, "join", id, known.data)
      },
      (error: SwitchyardError) => {
        // A refused subscription is reported by the subscription; a request of a lost session is sent again.
        if (error.code === "FORBIDDEN" || error.code === "CLIENT_CLOSED") return
        if (this.#watches.get(`${watch.topic}\u0000${watch.key}`) === watch) this.#wire.error(error)
      },
    )
  }

  /**
   * Sends a PRESENCE request, which waits for its RESULT among the pending requests like a call. A watch
   * request of a lost session is dropped (`fresh` sends it again); a list is settled as a call is.
   */
  #request(
    topic: string,
    key: string,
    watch: boolean,
    resolve: (list: PresenceList) => void,
    reject: (error: SwitchyardError) => void,
  ): void {
    const wire = this.#wire
    if (wire.closed) return reject(this.#kit.closedError())
    const id = wire.nextId()
    const frameBody = this.#kit.presenceBody(id, topic, key, watch)
    const seq = wire.send(PRESENCE, frameBody)
    if (seq === 0) return reject(this.#kit.queueFull())
    this.#pending().set({
      id,
      kind: watch ? "subscribe" : "rpc",
      seq,
      frameType: PRESENCE,
      frameBody,
      output: passThrough,
      error: undefined,
      resolve: (output) => (isList(output) ? resolve(output) : reject(this.#invalid(topic, "not a list of members"))),
      reject,
    })
  }

  /** An `INVALID_OUTPUT` error about `topic`. */
  #invalid(topic: string, why: string): SwitchyardError {
    return this.#kit.error("INVALID_OUTPUT", `topic ${topic}: invalid presence data: ${why}`)
  }

  #decode(watch: Watch, raw: unknown): Known | undefined {
    const decoded = watch.codec.decode(raw)
    if (decoded.ok) return { data: decoded.value, raw: JSON.stringify(raw) }
    this.#wire.error(this.#invalid(watch.topic, decoded.error))
    return undefined
  }

  #tell(watch: Watch, kind: "join" | "leave", id: string, data: unknown): void {
    for (const listeners of [...watch.listeners]) this.#call(listeners[kind], { id, data })
  }

  #call(listener: ((member: PresenceMember<unknown>) => void) | undefined, member: PresenceMember<unknown>): void {
    try {
      listener?.(member)
    } catch (error) {
      this.#kit.report(error)
    }
  }
}
