import { createClient } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import { TestContract } from "@switchyard/core/testing"
import WebSocket from "ws"
import { table } from "../fleet.ts"
import type { SoakStats } from "./server.ts"
import type { ServerProcess } from "./serverProcess.ts"

export interface ChurnRow {
  readonly transport: "websocket" | "long-polling"
  readonly cycles: number
  readonly ms: number
  readonly before: SoakStats
  readonly after: SoakStats
  readonly ok: boolean
}

/** Growth past which a churn counts as a leak: handles that stay, and heap kept after a full GC. */
const MAX_HANDLE_GROWTH = 8
const MAX_HEAP_GROWTH_MIB = 16

/**
 * Churn: `cycles` connect–call–close cycles per transport, `concurrency` at a time, and the server's RSS,
 * heap (after a full GC), active handles and open sockets before and after: what a leak would grow.
 */
export async function churn(server: ServerProcess, cycles: number, concurrency = 16): Promise<ChurnRow[]> {
  const fetch = nodeFetch()
  const rows: ChurnRow[] = []
  for (const [t, transport] of (["websocket", "long-polling"] as const).entries()) {
    const before = await server.stats()
    const started = performance.now()
    let next = 0
    let failed = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < cycles) {
          const i = next++
          const client = createClient(TestContract, { url: server.url, transports: [transport], WebSocket, fetch })
          try {
            // `b` names the caller for the server's count of runs: apart from every fleet's client indexes.
            const b = 1_000_000 + t
            if ((await client.rpc.add({ a: i, b })) !== i + b) failed++
          } catch {
            failed++
          } finally {
            await client.close()
          }
        }
      }),
    )
    const ms = Math.round(performance.now() - started)
    // Closed links linger for a moment (a long-polling link keeps late frames for up to 10 s).
    await new Promise((resolve) => setTimeout(resolve, 11_000))
    const after = await server.stats()
    const ok =
      failed === 0 &&
      after.handles - before.handles <= MAX_HANDLE_GROWTH &&
      after.heapMiB - before.heapMiB <= MAX_HEAP_GROWTH_MIB
    rows.push({ transport, cycles, ms, before, after, ok })
    if (failed > 0) console.log(`churn on ${transport}: ${failed} cycles failed`)
  }
  console.log(
    `\n── churn: connect, call, close; ${concurrency} at a time; server figures after a full GC\n${table([
      ["transport", "cycles", "cycles/s", "RSS MiB before → after", "heap MiB before → after", "handles", "sockets"],
      ...rows.map((r) => [
        r.transport,
        r.cycles,
        Math.round((r.cycles / r.ms) * 1000),
        `${r.before.rssMiB} → ${r.after.rssMiB}`,
        `${r.before.heapMiB} → ${r.after.heapMiB}`,
        `${r.before.handles} → ${r.after.handles}`,
        `${r.before.sockets} → ${r.after.sockets}`,
      ]),
    ])}`,
  )
  return rows
}
