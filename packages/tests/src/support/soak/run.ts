import { loadavg } from "node:os"
import { table } from "../fleet.ts"
import { chaos } from "./chaos.ts"
import { churn } from "./churn.ts"
import { ServerProcess } from "./serverProcess.ts"
import { storm } from "./storm.ts"

export interface SoakOptions {
  /** The bundled soak/server.ts. */
  readonly serverBundle: string
  readonly stormClients: number
  readonly stormRate: number
  readonly churnCycles: number
  readonly chaosClients: number
  readonly chaosMs: number
  readonly seed: number
  /** Which of `storm`, `churn` and `chaos` run (SOAK_PHASES); all of them when absent. */
  readonly phases?: readonly string[]
}

/**
 * The soak after the fuzzers (scripts/soak.mjs): a reconnect storm, churn and a chaos run against one
 * server process, then its own figures (uncaught exceptions, calls run twice). Prints every table and
 * returns whether everything held.
 */
export async function soak(options: SoakOptions): Promise<boolean> {
  // The machine's load, printed with the figures: on a shared machine, they are only as good as it is idle.
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")
  console.log(`\nload average (1, 5, 15 min) at the start: ${load()}`)
  await using server = await ServerProcess.start(options.serverBundle)
  const start = await server.stats()
  const results: Array<[string, boolean]> = []
  const run = async (name: string, phase: () => Promise<boolean>) => {
    const started = performance.now()
    try {
      results.push([name, await phase()])
    } catch (error) {
      console.log(`${name} failed: ${String((error as Error)?.stack ?? error)}`)
      results.push([name, false])
    }
    console.log(`(${name}: ${Math.round((performance.now() - started) / 1000)} s)`)
  }
  const runs = (phase: string) => options.phases === undefined || options.phases.includes(phase)
  if (runs("storm")) {
    await run("reconnect storm", async () => (await storm(server, options.stormClients, options.stormRate)).ok)
  }
  if (runs("churn")) await run("churn", async () => (await churn(server, options.churnCycles)).every((r) => r.ok))
  if (runs("chaos")) {
    await run("chaos", async () => (await chaos(server, options.chaosClients, options.chaosMs, options.seed)).ok)
  }
  // Closed HTTP links linger for up to 10 s with what nobody collected.
  await new Promise((resolve) => setTimeout(resolve, 11_000))
  const end = server.alive ? await server.stats() : undefined
  console.log(
    `\n── the server process\n${table([
      ["alive", "uncaught exceptions", "calls run twice", "RSS MiB start → end", "heap MiB start → end", "handles"],
      [
        String(end !== undefined),
        end?.uncaught.length ?? -1,
        end?.ranTwice ?? -1,
        `${start.rssMiB} → ${end?.rssMiB}`,
        `${start.heapMiB} → ${end?.heapMiB}`,
        `${start.handles} → ${end?.handles}`,
      ],
    ])}`,
  )
  for (const error of end?.uncaught ?? []) console.log(error)
  results.push([
    "server alive, nothing uncaught, nothing run twice",
    end !== undefined && end.uncaught.length === 0 && end.ranTwice === 0,
  ])
  console.log(`\nload average at the end: ${load()}`)
  console.log(`\n${table([["phase", "result"], ...results.map(([name, ok]) => [name, ok ? "PASS" : "FAIL"])])}`)
  return results.every(([, ok]) => ok)
}
