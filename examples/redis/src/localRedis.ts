import { type ChildProcess, spawn } from "node:child_process"
import { createConnection, createServer } from "node:net"

/** A throwaway redis-server for the demo: a free loopback port, no persistence. */
export interface LocalRedis {
  readonly url: string
  stop(): Promise<void>
}

/**
 * Starts `redis-server` (from PATH, or `REDIS_SERVER`) on a free port of 127.0.0.1 with nothing saved,
 * and waits until it accepts connections. `start.mjs` uses it when no `REDIS_URL` is given.
 */
export async function startLocalRedis(binary = process.env.REDIS_SERVER ?? "redis-server"): Promise<LocalRedis> {
  const port = await freePort()
  const child: ChildProcess = spawn(
    binary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"],
    // A group of its own: Ctrl+C in the terminal reaches the app, which closes its nodes while Redis is
    // still up, then stops Redis; not Redis at once, which would leave the nodes waiting on it.
    { stdio: ["ignore", "ignore", "inherit"], detached: true },
  )
  // Whatever way the app ends, its throwaway Redis ends with it.
  process.once("exit", () => child.kill())
  const failed = new Promise<never>((_, reject) => {
    child.once("error", (error) => reject(new Error(`cannot start ${binary}: ${error.message}`)))
    child.once("exit", (code) => reject(new Error(`${binary} exited (${code})`)))
  })
  const deadline = Date.now() + 10_000
  while (!(await Promise.race([accepts(port), failed]))) {
    if (Date.now() > deadline) throw new Error(`${binary} did not start on port ${port}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  failed.catch(() => {}) // from now on an exit is a stop
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await exited
    },
  }
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
  const address = probe.address()
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  if (address === null || typeof address === "string") throw new Error("no free port")
  return address.port
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })
}
