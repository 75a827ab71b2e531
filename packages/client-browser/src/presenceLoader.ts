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
export interface PresenceLoader {
  /** The presence module, loaded on first use (docs/presence.md). */
  load(): Promise<ClientPresence>
  /** Adds join/leave listeners to a subscription, once presence is loaded (after `ready`); `off` ends both. */
  watch(
    ready: Promise<CompiledTopic | undefined>,
    key: string,
    listeners: PresenceListeners<unknown>,
    off: () => void,
  ): () => void
  event(frame: PresenceEventFrame): void
  /** A new session: watches are sent again. */
  fresh(): void
  clear(): void
}

// A closure rather than a class: every client carries it, and the closure minifies smaller.
export function presenceLoader(wire: Wire, pending: () => PendingTable): PresenceLoader {
  let presence: ClientPresence | undefined
  let loading: Promise<ClientPresence> | undefined
  const load = () =>
    (loading ??= import("./presence.ts").then(
      ({ ClientPresence }) => (presence = new ClientPresence(wire, pending, featureKit)),
    ))
  return {
    load,
    watch(ready, key, listeners, off) {
      let stop: (() => void) | undefined
      let ended = false
      ready.then(async (channel) => {
        if (!channel?.presence) return
        const loaded = await load()
        if (!ended && !wire.closed) stop = loaded.watch(channel, key, listeners)
      }, report)
      return () => {
        ended = true
        stop?.()
        off()
      }
    },
    event: (frame) => presence?.event(frame),
    fresh: () => presence?.fresh(),
    clear: () => presence?.clear(),
  }
}
