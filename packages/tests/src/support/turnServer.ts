import type { ChildProcess } from "node:child_process"
import { createHmac } from "node:crypto"
import { createSocket } from "node:dgram"
import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawnDaemon, stopDaemon, untilReady } from "./daemon.ts"

export const TURNSERVER = process.env.TURNSERVER_PATH ?? "/usr/bin/turnserver"

export interface TurnServerOptions {
  /** A long-term user (`--lt-cred-mech --user`); or leave both out and give `authSecret`. */
  readonly username?: string
  readonly password?: string
  /**
   * Short-lived credentials instead (coturn's `--use-auth-secret`, the TURN REST scheme): username
   * `<expiry>:<anything>`, credential `base64(HMAC-SHA1(authSecret, username))`; see `restCredentials`.
   */
  readonly authSecret?: string
  readonly realm?: string
  /** Where relayed traffic leaves from; see the note on `start`. Default 127.0.0.2. */
  readonly relayIp?: string
}

/**
 * A real coturn `turnserver` on loopback for one test: UDP only, long-term credentials with one user,
 * its config, log, pid file and user database in a temporary directory, stopped (and the directory
 * removed) on dispose. Needs Debian's `coturn` (`.ci/run` installs it).
 */
export class TurnServer implements AsyncDisposable {
  /** Kills coturn if the test process exits without disposing of it (a crashed worker leaves no daemon). */
  private readonly onExit = () => this.child.kill("SIGKILL")

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    readonly relayIp: string,
  ) {
    process.once("exit", this.onExit)
  }

  /** `turn:127.0.0.1:<port>`, for an RTCIceServer's `urls`. */
  get url(): string {
    return `turn:127.0.0.1:${this.port}`
  }

  /**
   * Starts coturn listening on 127.0.0.1 and relaying from `relayIp` (127.0.0.2 by default). A relay
   * address other than 127.0.0.1 keeps the test honest: coturn forwards to a relay only from addresses
   * the allocation has a permission for, and a peer's direct (host) packets come from 127.0.0.1, so only
   * relay-to-relay traffic gets through (docs/webrtc-turn.md).
   */
  static async start(options: TurnServerOptions): Promise<TurnServer> {
    if (!existsSync(TURNSERVER))
      throw new Error(`${TURNSERVER} not found: install Debian's coturn (apt-get install coturn)`)
    const dir = await mkdtemp(join(tmpdir(), "switchyard-turn-"))
    const relayIp = options.relayIp ?? "127.0.0.2"
    // An empty config file: nothing from /etc/turnserver.conf.
    await writeFile(join(dir, "turnserver.conf"), "")
    let lastError: Error | undefined
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freeUdpPort()
      const daemon = spawnDaemon(TURNSERVER, [
        ...["-c", join(dir, "turnserver.conf")],
        ...["--listening-ip", "127.0.0.1", "--listening-port", String(port), "--relay-ip", relayIp],
        ...(options.authSecret === undefined
          ? ["--lt-cred-mech", "--user", `${options.username}:${options.password}`]
          : ["--use-auth-secret", "--static-auth-secret", options.authSecret]),
        ...["--realm", options.realm ?? "switchyard.test"],
        // coturn refuses to relay to 127.x.x.x unless told to.
        "--allow-loopback-peers",
        ...["--no-tcp", "--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780"],
        ...["--log-file", join(dir, "turn.log"), "--simple-log", "--no-stdout-log", "--verbose"],
        ...["--pidfile", join(dir, "turnserver.pid"), "--userdb", join(dir, "turndb")],
      ])
      const server = new TurnServer(daemon.child, dir, port, relayIp)
      const listening = `UDP listener opened on: 127.0.0.1:${port}`
      try {
        await untilReady(
          "turnserver",
          daemon,
          async () => (await server.log()).includes(listening),
          5000,
          () => server.log(),
        )
        return server
      } catch (error) {
        // Most likely another process took the port between freeUdpPort() and coturn's bind: try another.
        lastError = error as Error
        await server.stop()
      }
    }
    await rm(dir, { recursive: true, force: true })
    throw lastError
  }

  /** coturn's log so far (empty before it has written one). */
  async log(): Promise<string> {
    return readFile(join(this.dir, "turn.log"), "utf8").catch(() => "")
  }

  /** coturn's log lines about TURN sessions (allocations, permissions, refusals), for a failure message. */
  async sessionLog(): Promise<string> {
    return (await this.log())
      .split("\n")
      .filter((line) => line.includes(": session "))
      .join("\n")
  }

  /**
   * Allocations coturn granted to `username` so far: one per peer connection that gathered a relay. Each
   * is a TURN session; an ALLOCATE sent again (a client retransmits when the answer is slow) is answered
   * in the same session and logged again, so sessions are counted, not log lines.
   */
  async allocations(username: string): Promise<number> {
    const suffix = `user <${username}>: incoming packet ALLOCATE processed, success`
    const sessions = new Set<string>()
    for (const line of (await this.log()).split("\n")) {
      if (!line.endsWith(suffix)) continue
      const session = /session (\d+):/.exec(line)?.[1]
      if (session !== undefined) sessions.add(session)
    }
    return sessions.size
  }

  private async stop(): Promise<void> {
    process.off("exit", this.onExit)
    await stopDaemon(this.child, "SIGTERM", 2000)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** Short-lived TURN credentials for a coturn started with `authSecret`, valid for `ttlSeconds`. */
export function restCredentials(authSecret: string, user: string, ttlSeconds = 3600) {
  const username = `${Math.floor(Date.now() / 1000) + ttlSeconds}:${user}`
  return { username, credential: createHmac("sha1", authSecret).update(username).digest("base64") }
}

/** A UDP port on 127.0.0.1 that was free a moment ago (`start` retries if another process takes it). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4")
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve))
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}
