import type { CompiledTopic, PresenceEventFrame, PresenceListeners } from "@switchyard/core"
import type { PendingTable } from "./calls.ts"
import { featureKit } from "./featureKit.ts"
import type { ClientPresence } from "./presence.ts"
import { report } from "./report.ts"
import type { Wire } from "./wire.ts"

/**
 * The client's presence (docs/presence.md), loaded with `import()` on first use: most apps never load
 * presence.ts, which builds its requests itself (with `featureKit`). Until then nothing is watched, so
 * there is nothing to renew, clear or hear.
 */
export class PresenceLoader {
  #presence: ClientPresence | undefined
  #loading: Promise<ClientPresence> | undefined
  readonly #wire: Wire
  readonly #pending: () => PendingTable

  constructor(wire: Wire, pending: () => PendingTable) {
    this.#wire = wire
    this.#pending = pending
  }

  load(): Promise<ClientPresence> {
    this.#loading ??= import("./presence.ts").then(
      ({ ClientPresence }) => (this.#presence = new ClientPresence(this.#wire, this.#pending, featureKit)),
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
      if (!ended && !this.#wire.closed) stop = presence.watch(channel, key, listeners)
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
