import type { ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { accepts, freePort, spawnDaemon, stopDaemon, untilReady } from "../daemon.ts"

export const NGINX = process.env.NGINX_PATH ?? "/usr/sbin/nginx"

/**
 * The directives of the `location` that passes Switchyard on, as docs/proxies.md documents them: WebSocket
 * upgrades passed on, no response buffering (event streams, long polls) and read timeouts long enough for
 * held requests.
 */
export const documentedLocation: readonly string[] = [
  "proxy_pass http://switchyard;",
  "proxy_http_version 1.1;",
  "proxy_set_header Host $host;",
  "proxy_set_header Upgrade $http_upgrade;",
  "proxy_set_header Connection $connection_upgrade;",
  "proxy_set_header X-Forwarded-For $remote_addr;",
  "proxy_buffering off;",
  "proxy_request_buffering off;",
  "proxy_cache off;",
  "proxy_read_timeout 1h;",
  "proxy_send_timeout 1h;",
  "proxy_next_upstream error timeout;",
]

/**
 * The configuration of a round-robin load balancer (no `ip_hash`, no affinity) over `127.0.0.1:<port>` for
 * each upstream, as a deployment in front of Switchyard nodes would have it, with `location`'s directives
 * ({@link documentedLocation} unless a test gives others, to see what a worse proxy does). Every path
 * nginx writes to is inside `dir`.
 */
export function nginxConfig(
  dir: string,
  port: number,
  upstreams: readonly number[],
  location: readonly string[] = documentedLocation,
): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; "" ""; }
  upstream switchyard {
${upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=0;`).join("\n")}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
${location.map((line) => `      ${line}`).join("\n")}
    }
  }
}
`
}

/**
 * Debian's nginx as a round-robin load balancer on a free loopback port, in front of the given upstream
 * ports (see {@link nginxConfig}): not a daemon, its config, pid, logs and temporary files in a temporary
 * directory, stopped (and the directory removed) on dispose or when the test process exits.
 *
 * @example
 * await using nginx = await Nginx.start([a.port, b.port])
 * const client = createClient(Contract, { url: `${nginx.url}/switchyard` })
 */
export class Nginx implements AsyncDisposable {
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

  static start(upstreams: readonly number[], location?: readonly string[]): Promise<Nginx> {
    return Nginx.startWith((dir, port) => nginxConfig(dir, port, upstreams, location))
  }

  /**
   * nginx with the configuration `configure` returns for its directory and its free loopback port (it may
   * write more files there, such as a site file the configuration includes).
   */
  static async startWith(configure: (dir: string, port: number) => string | Promise<string>): Promise<Nginx> {
    if (!existsSync(NGINX)) throw new Error(`${NGINX} not found: install Debian's nginx (pnpm test does it when root)`)
    const dir = await mkdtemp(join(tmpdir(), "switchyard-nginx-"))
    // Run as root, nginx's workers switch to an unprivileged user, which must reach its temporary paths.
    await chmod(dir, 0o755)
    const port = await freePort()
    const config = join(dir, "nginx.conf")
    await writeFile(config, await configure(dir, port))
    const daemon = spawnDaemon(NGINX, ["-p", dir, "-c", config, "-e", join(dir, "error.log")])
    const nginx = new Nginx(port, dir, daemon.child)
    const errorLog = () => readFile(join(dir, "error.log"), "utf8").catch(() => "")
    try {
      await untilReady("nginx", daemon, () => accepts(port), 10_000, errorLog)
    } catch (error) {
      await nginx[Symbol.asyncDispose]()
      throw error
    }
    return nginx
  }

  /** Stops nginx (SIGTERM: fast shutdown, every connection closed) and removes its directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    process.off("exit", this.onExit)
    await stopDaemon(this.child, "SIGTERM")
    await rm(this.dir, { recursive: true, force: true })
  }
}
