import type { ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient } from "@redis/client"
import { freePort, spawnDaemon, stopDaemon, untilReady } from "./daemon.ts"

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? "/usr/bin/redis-server"

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
    const daemon = spawnDaemon(REDIS_SERVER, [
      ...["--port", String(this.port), "--bind", "127.0.0.1"],
      ...["--save", "", "--appendonly", "no", "--dir", this.dir, "--loglevel", "warning"],
    ])
    this.child = daemon.child
    await untilReady("redis-server", daemon, () => this.answers(), 10_000)
  }

  /** Stops redis-server (SIGTERM, without saving) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child) return
    this.child = undefined
    await stopDaemon(child, "SIGTERM")
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
