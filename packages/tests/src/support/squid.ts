import type { ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { accepts, freePort, spawnDaemon, stopDaemon, untilReady } from "./daemon.ts"

export const SQUID = process.env.SQUID_PATH ?? "/usr/sbin/squid"

export interface SquidOptions {
  /** Pass WebSocket upgrades on plain forwarded requests. Default false, as squid's own default. */
  readonly websocket?: boolean
  /** Allow CONNECT tunnels (to any port). Default true; false refuses every CONNECT with 403. */
  readonly tunnels?: boolean
}

/**
 * A forward proxy for clients on loopback, caching nothing: plain requests by absolute URI, and CONNECT
 * tunnels to any port (a default squid allows CONNECT to 443 only; the servers here listen elsewhere).
 * `websocket` lets WebSocket upgrades through a plain forwarded request (`http_upgrade_request_protocols`;
 * squid drops the `Upgrade` header by default, as most forward proxies do). Squid compares the protocol
 * name case-sensitively: `WebSocket`, as its own documentation spells it, matches nothing a client sends.
 */
export function squidConfig(dir: string, port: number, options: SquidOptions = {}): string {
  return `http_port 127.0.0.1:${port}
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log stdio:${dir}/access.log
cache_store_log none
cache deny all
cache_mem 4 MB
coredump_dir ${dir}
icp_port 0
htcp_port 0
pinger_enable off
max_filedescriptors 4096
acl local src 127.0.0.1/32
${options.tunnels === false ? "acl tunnel method CONNECT\nhttp_access deny tunnel\n" : ""}http_access allow local
http_access deny all
${options.websocket ? "http_upgrade_request_protocols websocket allow all" : ""}
`
}

/**
 * Debian's squid on a free loopback port (see {@link squidConfig}): in the foreground (`-N`), its config,
 * pid and logs in a temporary directory, stopped (and the directory removed) on dispose or when the test
 * process exits. `requests()` reads its access log: what went through it, one line per request or tunnel.
 *
 * @example
 * await using squid = await Squid.start()
 * const agent = new HttpsProxyAgent(squid.url) // CONNECT tunnels through it
 */
export class Squid implements AsyncDisposable {
  private readonly onExit = () => this.child.kill("SIGKILL")

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    process.once("exit", this.onExit)
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(options: SquidOptions = {}): Promise<Squid> {
    if (!existsSync(SQUID)) throw new Error(`${SQUID} not found: install Debian's squid (pnpm test does it when root)`)
    const dir = await mkdtemp(join(tmpdir(), "switchyard-squid-"))
    // Run as root, squid switches to the `proxy` user, which must write its logs here.
    await chmod(dir, 0o777)
    const port = await freePort()
    const config = join(dir, "squid.conf")
    await writeFile(config, squidConfig(dir, port, options))
    const daemon = spawnDaemon(SQUID, ["-N", "-f", config], dir)
    const squid = new Squid(port, dir, daemon.child)
    const cacheLog = () => readFile(join(dir, "cache.log"), "utf8").catch(() => "")
    try {
      await untilReady("squid", daemon, () => accepts(port), 15_000, cacheLog)
    } catch (error) {
      await squid[Symbol.asyncDispose]()
      throw error
    }
    return squid
  }

  /**
   * The access log's requests so far, `<method> <url>` (squid leaves the query string out), once `until`
   * holds of them (squid writes a line when a request ends, a tunnel when it closes), or after 5 s.
   * Connections that sent no request (the readiness check of `start`) are left out.
   */
  async requests(until: (requests: string[]) => boolean = () => true): Promise<string[]> {
    const deadline = Date.now() + 5000
    for (;;) {
      const log = await readFile(join(this.dir, "access.log"), "utf8").catch(() => "")
      const requests = log
        .split("\n")
        .map((line) => line.trim().split(/\s+/))
        .filter((fields) => fields.length > 6 && fields[5] !== "-")
        .map((fields) => `${fields[5]} ${fields[6]}`)
      if (until(requests) || Date.now() > deadline) return requests
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /**
   * Stops squid and removes its directory. SIGKILL: squid keeps nothing worth a clean shutdown here (no
   * cache), and its SIGTERM takes 2 s whatever `shutdown_lifetime` says.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    process.off("exit", this.onExit)
    await stopDaemon(this.child, "SIGKILL")
    await rm(this.dir, { recursive: true, force: true })
  }
}
