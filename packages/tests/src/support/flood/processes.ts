import { spawn } from "node:child_process"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { bundleForNode } from "../cluster/bundle.ts"
import type { FloodCounts } from "./flooder.ts"

/** The folder of flooderMain.ts and serverMain.ts; scripts/attack-flood.mjs, bundled elsewhere, names it. */
const here = process.env.SWITCHYARD_FLOOD_DIR ?? dirname(fileURLToPath(import.meta.url))

/** A flood running in a child process: its counts once it has stopped. */
export interface FloodProcess {
  readonly done: Promise<FloodCounts>
  /** Stops it now (it prints its counts and exits). */
  stop(): void
}

/**
 * Starts `flooderMain.ts` in a child process: `transport` HELLOs from `loops` loops at `url`, for at most
 * `ms` (and never past this process: its stdin closes with us).
 */
export async function floodProcess(
  url: string,
  transport: "websocket" | "long-polling",
  loops: number,
  ms: number,
): Promise<FloodProcess> {
  const main = await bundleForNode("session-flood-main", 'import "./flooderMain.ts"', here)
  const child = spawn(process.execPath, [main, url, transport, String(loops), String(ms)], {
    stdio: ["pipe", "pipe", "inherit"],
  })
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const done = new Promise<FloodCounts>((resolve, reject) => {
    child.once("error", reject)
    child.once("exit", (code) => {
      const line = output.trim().split("\n").pop() ?? ""
      try {
        resolve(JSON.parse(line) as FloodCounts)
      } catch {
        reject(new Error(`the ${transport} flood exited with ${code} and printed ${JSON.stringify(output)}`))
      }
    })
  })
  // Awaited by the caller later: a child that fails early must not count as an unhandled rejection meanwhile.
  done.catch(() => {})
  return { done, stop: () => child.stdin.end() }
}

/** A Switchyard server in a child process (`serverMain.ts`, default limits), for `scripts/attack-flood.mjs`. */
export interface ServerProcess {
  readonly url: string
  readonly pid: number
  /** Sessions it held at its last report (every 250 ms). */
  readonly sessions: () => number
  /** Its event loop's delay so far at its last report, in ms: 99th percentile and maximum. */
  readonly lag: () => { readonly p99: number; readonly max: number }
  stop(): Promise<void>
}

export async function serverProcess(): Promise<ServerProcess> {
  const main = await bundleForNode("flood-server-main", 'import "./serverMain.ts"', here)
  const child = spawn(process.execPath, [main], { stdio: ["pipe", "pipe", "inherit"] })
  let sessions = 0
  let lag = { p99: 0, max: 0 }
  let buffered = ""
  const url = await new Promise<string>((resolve, reject) => {
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the server exited with ${code}`)))
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString()
      let end = buffered.indexOf("\n")
      while (end !== -1) {
        const [kind, value = "", more = ""] = buffered.slice(0, end).split(" ")
        buffered = buffered.slice(end + 1)
        if (kind === "url") resolve(value)
        if (kind === "sessions") sessions = Number(value)
        if (kind === "lag") lag = { p99: Number(value), max: Number(more) }
        end = buffered.indexOf("\n")
      }
    })
  })
  return {
    url,
    pid: child.pid ?? 0,
    sessions: () => sessions,
    lag: () => lag,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve())
        child.stdin.end()
      }),
  }
}
