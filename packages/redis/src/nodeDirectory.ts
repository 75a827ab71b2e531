import { type RedisConnections, within } from "./connection.ts"
import { keepScript, releaseScript } from "./nodeScripts.ts"
import { runScript } from "./scripts.ts"

/**
 * The session directory on Redis (docs/scaling.md#node-messages-and-the-directory-on-redis), a part of
 * `RedisNodes`: `<prefix>own:<key>` holds the id of the node that owns a session, its TTL refreshed while
 * that node owns it. A claim or release made while Redis is down is written when it is back.
 */
export class NodeDirectory {
  /** Directory keys this node claimed, each with the number of its claim (a later claim wins a race). */
  readonly #owned = new Map<string, number>()
  readonly #pending = new Map<string, "claim" | "release">()
  #claims = 0
  #keeping = false
  #closed = false

  constructor(
    private readonly connections: RedisConnections,
    private readonly nodeId: string,
    private readonly prefix: string,
    private readonly timings: { readonly unavailableAfterMs: number; readonly ownerTtlMs: number },
  ) {}

  async claim(key: string): Promise<void> {
    this.#owned.set(key, ++this.#claims)
    this.#pending.delete(key)
    await this.#write(key, "claim")
  }

  async lookup(key: string): Promise<string | undefined> {
    const wait = this.timings.unavailableAfterMs
    const client = await this.connections.command.ready(wait)
    const owner = await within(client.sendCommand(["GET", this.#ownKey(key)]), wait, "GET")
    return typeof owner === "string" ? owner : undefined
  }

  async release(key: string): Promise<void> {
    if (!this.#owned.delete(key)) return
    this.#pending.delete(key)
    await this.#write(key, "release")
  }

  close(): void {
    this.#closed = true
  }

  /** Writes what waited for Redis to be back. */
  flush(): void {
    const pending = [...this.#pending]
    this.#pending.clear()
    for (const [key, what] of pending) void this.#write(key, what)
  }

  /**
   * Extends the TTL of the directory entries this node still owns and forgets the others (handed over
   * or released elsewhere); `restore` writes back those Redis lost.
   */
  async keep(restore: boolean): Promise<void> {
    const client = this.connections.command.client
    if (this.#keeping || this.#closed || !client || this.#owned.size === 0) return
    this.#keeping = true
    const owned = [...this.#owned]
    const args = [this.nodeId, String(this.timings.ownerTtlMs), restore ? "1" : "0"]
    try {
      for (let i = 0; i < owned.length; i += 500) {
        const batch = owned.slice(i, i + 500)
        const keys = batch.map(([key]) => this.#ownKey(key))
        const reply = (await within(
          runScript(client, keepScript, keys, args),
          this.timings.unavailableAfterMs,
          "keep",
        )) as number[] | undefined
        batch.forEach(([key, claim], j) => {
          if (reply?.[j] === 0 && this.#owned.get(key) === claim) this.#owned.delete(key)
        })
      }
    } catch {
      // Redis is down: the next round (or the next heartbeat after it is back) does it.
    } finally {
      this.#keeping = false
    }
  }

  #ownKey(key: string): string {
    return `${this.prefix}own:${key}`
  }

  /** Writes a claim or a release; while Redis is down it waits in `#pending` for the connection to be back. */
  async #write(key: string, what: "claim" | "release"): Promise<void> {
    const client = this.connections.command.client
    try {
      if (!client) throw new Error("down")
      const ownKey = this.#ownKey(key)
      if (what === "claim")
        await client.sendCommand(["SET", ownKey, this.nodeId, "PX", String(this.timings.ownerTtlMs)])
      else await runScript(client, releaseScript, [ownKey], [this.nodeId])
    } catch {
      if (!this.#closed && !this.#pending.has(key)) this.#pending.set(key, what)
    }
  }
}
