import { body } from "@switchyard/core"
import type { PresenceBus, PresenceChange, PresenceEntry } from "./broker/presenceBus.ts"

/** Hears the changes of one key: the change, and its PRESENCE_EVENT body (built once for every session). */
export type PresenceWatcher = (change: PresenceChange, frameBody: string) => void

interface Watched {
  readonly watchers: Set<PresenceWatcher>
  readonly stop: () => void
}

/**
 * This node's side of presence (docs/presence.md): its sessions' joins and leaves go to the bus, and
 * the changes of the keys someone here watches (a session that asked for join/leave events, or the app
 * through `server.topics.<topic>(key).onPresence`) come back from it. The node watches a key on the bus
 * only while it has a watcher for it, and builds each change's frame body once for all of them.
 */
export class PresenceHub {
  private readonly watched = new Map<string, Watched>()

  constructor(
    readonly bus: PresenceBus,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Adds a member; resolves false when the key is full (it is then not listed). */
  join(topic: string, key: string, entry: PresenceEntry, max: number): Promise<boolean> {
    return Promise.resolve(this.bus.join(topic, key, entry, max))
  }

  /** Removes a member; a failure of the bus is reported, never thrown. */
  leave(topic: string, key: string, id: string): void {
    try {
      Promise.resolve(this.bus.leave(topic, key, id)).catch(this.onError)
    } catch (error) {
      this.onError(error)
    }
  }

  list(topic: string, key: string): Promise<readonly PresenceEntry[]> {
    return Promise.resolve(this.bus.list(topic, key))
  }

  /** Hears every change of a key from now on. Returns the function that stops. */
  watch(topic: string, key: string, watcher: PresenceWatcher): () => void {
    const ref = `${topic}\u0000${key}`
    let watched = this.watched.get(ref)
    if (!watched) {
      const watchers = new Set<PresenceWatcher>()
      const stop = this.bus.watch(topic, key, (change) => {
        const frameBody = body.presenceEvent(topic, key, change.kind, change.entry.id, change.entry.data)
        for (const w of [...watchers]) {
          try {
            w(change, frameBody)
          } catch (error) {
            this.onError(error)
          }
        }
      })
      watched = { watchers, stop }
      this.watched.set(ref, watched)
    }
    const current = watched
    current.watchers.add(watcher)
    return () => {
      if (!current.watchers.delete(watcher) || current.watchers.size > 0) return
      if (this.watched.get(ref) === current) this.watched.delete(ref)
      current.stop()
    }
  }
}

/** A `PresenceList` as JSON text, from entries whose data is JSON text already. */
export function presenceListJson(entries: readonly PresenceEntry[]): string {
  return `[${entries.map((e) => `[${JSON.stringify(e.id)},${e.data}]`).join(",")}]`
}
