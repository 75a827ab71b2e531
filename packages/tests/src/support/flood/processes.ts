import { spawn } from "node:child_process"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { bundleForNode } from "../cluster/bundle.ts"
import type { FloodCounts } from "./flooder.ts"

const here = dirname(fileURLToPath(import.meta.url))

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
