import type { TransportId, TransportMemory } from "@switchyard/core"
import { parseMemory } from "@switchyard/core/negotiation"

/*
 * `@switchyard/client-browser/transport-store`, not the root entry point: a client reaches the store only
 * through negotiation, which it loads on demand (upgrades.ts), and whatever the root entry point reaches
 * goes to the chunk that every client loads (docs/performance.md#bundle-size).
 */

/** The part of the Web Storage API the client uses (`localStorage` has it). */
export interface StorageLike {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

/** What the client remembers about one server's transports (docs/negotiation.md). */
export interface TransportStore {
  load(): TransportMemory
  update(change: (memory: TransportMemory, now: number) => TransportMemory): void
}

/**
 * The memory of one server URL in `storage`: by default `localStorage` where there is one (so the next
 * page load skips what failed and starts on what worked), else a map shared by the clients of this
 * process. Storage that throws (private mode, quota) is treated as empty. Besides the built-in
 * transports, it remembers those of `known` (the client's).
 *
 * @example
 * ```ts
 * import { transportStore } from "@switchyard/client-browser/transport-store"
 *
 * const store = transportStore("https://example.com/switchyard")
 * const { failed } = store.load() // the transports that failed lately, which the next client skips
 * ```
 */
export function transportStore(
  url: string,
  storage: StorageLike | undefined = defaultStorage(),
  known?: readonly TransportId[],
): TransportStore {
  const key = `switchyard:transports:${url.split(/[?#]/)[0]}`
  return {
    load() {
      try {
        return parseMemory(storage.getItem(key), known)
      } catch {
        return parseMemory(null)
      }
    },
    update(change) {
      const next = change(this.load(), Date.now())
      try {
        storage.setItem(key, JSON.stringify(next))
      } catch {
        // Nothing to do: the client still works, it only remembers less.
      }
    },
  }
}

const processMemory = new Map<string, string>()
const processStorage: StorageLike = {
  getItem: (key) => processMemory.get(key) ?? null,
  setItem: (key, value) => {
    processMemory.set(key, value)
  },
}

function defaultStorage(): StorageLike {
  try {
    const local = (globalThis as { localStorage?: StorageLike }).localStorage
    if (local && typeof local.getItem === "function") return local
  } catch {
    // Reading `localStorage` throws where storage is denied.
  }
  return processStorage
}
