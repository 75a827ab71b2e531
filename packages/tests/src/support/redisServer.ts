import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient } from "@redis/client"

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? "/usr/bin/redis-server"

/** A free TCP port on 127.0.0.1 (redis-server cannot be told to pick one). */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
  const address = probe.address()
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  if (address === null || typeof address === "string") throw new Error("no port")
  return address.port
}

/**
 * A real `redis-server` (Debian's package; `pnpm test` installs it) on a free loopback port for one test
 * file: no persistence, no config file, its working directory a temporary one. `stop()`/`start()`
 * restart it on the same port (a restart without persistence loses everything, as in production);
 * `pause()`/`resume()` send SIGSTOP/SIGCONT (a Redis that hangs). Killed if the test process exits first.
 */
export class RedisServer implements AsyncDisposable {
  private child: ChildProcess | undefined
  private readonly onExit = () => this.child?.kill("SIGKILL")

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {
    process.once("exit", this.onExit)
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start(): Promise<RedisServer> {
    if (!existsSync(REDIS_SERVER)) {
      throw new Error(`${REDIS_SERVER} not found: install Debian's redis-server (pnpm test does it when root)`)
    }
    const dir = await mkdtemp(join(tmpdir(), "switchyard-redis-"))
    const server = new RedisServer(await freePort(), dir)
    await server.start()
    return server
  }

  /** Starts redis-server (again) on this port, and waits until it answers PING. */
  async start(): Promise<void> {
    if (this.child) return
    const child = spawn(
      REDIS_SERVER,
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
        "--loglevel",
        "warning",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    )
    this.child = child
    let stderr = ""
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const deadline = Date.now() + 10_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${stderr}`)
      if (await this.answers()) return
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${this.port}: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Stops redis-server (SIGTERM, without saving) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child) return
    this.child = undefined
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGCONT")
    child.kill("SIGTERM")
    await exited
  }

  /** SIGSTOP: the process hangs with its sockets open, as a Redis stuck on a slow disk or swapped out. */
  pause(): void {
    this.child?.kill("SIGSTOP")
  }

  /** SIGCONT after `pause()`. */
  resume(): void {
    this.child?.kill("SIGCONT")
  }

  /** Runs one command on a connection of its own (`FLUSHALL`, `CLIENT KILL TYPE pubsub`, …). */
  async command(...args: string[]): Promise<unknown> {
    const client = createClient({ url: this.url, socket: { reconnectStrategy: false } })
    client.on("error", () => {})
    await client.connect()
    try {
      return await client.sendCommand(args)
    } finally {
      client.destroy()
    }
  }

  private async answers(): Promise<boolean> {
    try {
      return (await this.command("PING")) === "PONG"
    } catch {
      return false
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    process.off("exit", this.onExit)
    await this.stop()
    await rm(this.dir, { recursive: true, force: true })
  }
}
