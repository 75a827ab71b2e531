import {
  type CompiledTopic,
  FrameType,
  type PayloadCodec,
  type PresenceEventFrame,
  type PresenceListeners,
  presenceBody,
  switchyardError,
} from "@switchyard/core"
import type { ClientPresence } from "./presence.ts"
import { report } from "./report.ts"
import { closedError, type Pending, queueFull, type Wire } from "./wire.ts"

/** What the presence loader needs of the runtime. */
export interface PresenceWire extends Pick<Wire, "closed" | "nextId" | "send" | "error"> {
  /** The pending requests, where a PRESENCE request waits for its RESULT like a call. */
  readonly pending: { set(pending: Pending): void }
}

/** A request's output as it came: presence checks its own. */
const passThrough: PayloadCodec = { decode: (value) => ({ ok: true, value }), encode: (value) => ({ ok: true, value }) }

/**
 * The client's presence (docs/presence.md), loaded with `import()` on first use: most apps never load
 * presence.ts. Until then nothing is watched, so there is nothing to renew, clear or hear.
 */
export class PresenceLoader {
  #presence: ClientPresence | undefined
  #loading: Promise<ClientPresence> | undefined

  constructor(private readonly wire: PresenceWire) {}

  load(): Promise<ClientPresence> {
    const { wire } = this
    this.#loading ??= import("./presence.ts").then(
      ({ ClientPresence }) =>
        (this.#presence = new ClientPresence({
          request: (topic, key, watch, resolve, reject) => {
            if (wire.closed) return reject(closedError())
            const id = wire.nextId()
            const frameBody = presenceBody(id, topic, key, watch)
            const seq = wire.send(FrameType.PRESENCE, frameBody)
            if (seq === 0) return reject(queueFull())
            // A watch of a lost session is dropped (presence sends it again); a list settles as a call.
            const kind = watch ? "subscribe" : "rpc"
            const output = passThrough
            wire.pending.set({
              id,
              kind,
              seq,
              frameType: FrameType.PRESENCE,
              frameBody,
              output,
              error: undefined,
              resolve,
              reject,
            })
          },
          invalid: (topic, why) => switchyardError("INVALID_OUTPUT", `topic ${topic}: invalid presence data: ${why}`),
          error: (error) => wire.error(error),
          report,
        })),
    )
    return this.#loading
  }

  /** Adds join/leave listeners to a subscription, once presence is loaded (after `ready`); `off` ends both. */
  watch(
    ready: Promise<CompiledTopic | undefined>,
    key: string,
    listeners: PresenceListeners<unknown>,
    off: () => void,
  ): () => void {
    let stop: (() => void) | undefined
    let ended = false
    ready.then(async (channel) => {
      if (!channel?.presence) return
      const presence = await this.load()
      if (!ended && !this.wire.closed) stop = presence.watch(channel, key, listeners)
    }, report)
    return () => {
      ended = true
      stop?.()
      off()
    }
  }

  event(frame: PresenceEventFrame): void {
    this.#presence?.event(frame)
  }

  /** A new session: watches are sent again. */
  fresh(): void {
    this.#presence?.fresh()
  }

  clear(): void {
    this.#presence?.clear()
  }
}
