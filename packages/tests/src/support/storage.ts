import type { StorageLike } from "@switchyard/client-browser/all"

// Apart from harnesses.ts, which re-exports it, so that fleet.ts (and the soak script, which runs outside
// vitest) can take it without the Chromium harness.

/** A storage of its own for one client's negotiation memory, so that no test sees what another remembered. */
export function freshStorage(): StorageLike & { readonly map: Map<string, string> } {
  const map = new Map<string, string>()
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v) }
}
