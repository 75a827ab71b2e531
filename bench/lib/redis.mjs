// A redis-server of the bench's own on a free loopback port (no persistence), shared by every system of a
// cross-node run, as in the tests (packages/tests/src/support/redisServer.ts).
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient } from "@redis/client"

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? "/usr/bin/redis-server"

async function freePort() {
  const probe = createServer()
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}

async function answers(url) {
  const client = createClient({ url, socket: { reconnectStrategy: false } })
  client.on("error", () => {})
  try {
    await client.connect()
    return (await client.ping()) === "PONG"
  } catch {
    return false
  } finally {
    client.destroy()
  }
}

/** Starts redis-server and resolves once it answers PING: `{ url, stop() }`. */
export async function startRedis() {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-redis-"))
  const args = ["--port", `${port}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]
  const child = spawn(REDIS_SERVER, args, { stdio: "ignore" })
  const kill = () => child.kill("SIGKILL")
  process.once("exit", kill)
  const url = `redis://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      kill()
      throw new Error(`redis-server (${REDIS_SERVER}) did not start on ${port}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return {
    url,
    async stop() {
      process.off("exit", kill)
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
