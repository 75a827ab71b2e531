import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient } from "@switchyard/client-browser/all"
import { EventSource } from "eventsource"
import WebSocket from "ws"
import { Status } from "./contract.ts"
import { mainConfig, renderSite } from "./nginxConfig.ts"
import { startApp } from "./server.ts"

/**
 * `pnpm start`: the app on 127.0.0.1:`APP_PORT` (3000), Debian's nginx with `switchyard.conf` on
 * 127.0.0.1:`PORT` (8080) in front of it, and one Node client per transport through nginx, which prints
 * what it got. Everything stops on Ctrl-C.
 */
export async function main(root: string): Promise<void> {
  const nginxPath = process.env.NGINX_PATH ?? "/usr/sbin/nginx"
  if (!existsSync(nginxPath)) {
    console.error(`${nginxPath} not found: install nginx (apt-get install nginx), or set NGINX_PATH`)
    process.exit(1)
  }
  const port = Number(process.env.PORT ?? 8080)
  const origin = `http://127.0.0.1:${port}`
  const app = await startApp({ port: Number(process.env.APP_PORT ?? 3000), publicOrigin: origin })

  const dir = await mkdtemp(join(tmpdir(), "switchyard-example-nginx-"))
  // Started as root, nginx's workers run as an unprivileged user, which must reach the directory.
  await chmod(dir, 0o755)
  const template = await readFile(join(root, "switchyard.conf"), "utf8")
  const site = renderSite(template, { listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${app.port}` })
  await writeFile(join(dir, "switchyard.conf"), site)
  await writeFile(join(dir, "nginx.conf"), mainConfig(dir, join(dir, "switchyard.conf")))
  const nginx = spawn(nginxPath, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], {
    stdio: "inherit",
  })
  const stop = async () => {
    nginx.kill("SIGTERM")
    await app.server.close()
    await rm(dir, { recursive: true, force: true })
  }
  // nginx runs in the foreground as a child: it must not outlive this process, however it ends.
  process.once("exit", () => nginx.kill("SIGKILL"))
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void stop().then(() => process.exit(0)))
  }
  nginx.once("exit", (code) => {
    if (code !== 0 && code !== null) void stop().then(() => process.exit(1))
  })

  await listening(nginx, origin)
  console.log(`nginx on ${origin}, in front of the app on 127.0.0.1:${app.port}`)
  for (const transport of ["websocket", "sse", "long-polling"] as const) {
    const client = createClient(Status, {
      url: `${origin}/switchyard`,
      transports: [transport],
      WebSocket,
      EventSource,
    })
    const greeting = await client.rpc.hello({ name: "nginx" })
    const ticks: number[] = []
    for await (const tick of client.streams.ticks({ count: 3, everyMs: 200 })) ticks.push(tick)
    console.log(`  ${transport}: ${greeting}; ticks ${ticks.join(", ")}`)
    await client.close()
  }
  console.log(`Connect your clients to ${origin}/switchyard (Ctrl-C stops nginx and the app).`)
}

/** Resolves once nginx answers on `origin` (an HTTP request of any status). */
async function listening(nginx: ChildProcess, origin: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (nginx.exitCode !== null) throw new Error(`nginx exited with ${nginx.exitCode}`)
    const answered = await fetch(origin).then(
      () => true,
      () => false,
    )
    if (answered) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`nginx did not answer on ${origin}`)
}
