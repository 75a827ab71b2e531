import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { bundleForNode } from "./bundle.ts"

/**
 * The round-robin proxy ({@link RoundRobinProxy}) in a process of its own, as a load balancer is in a
 * deployment: for the soak, whose load generator would otherwise share its one event loop between a
 * thousand clients and the balancer in front of them (the balancer's accept queue then fills, the kernel
 * drops connection attempts, and clients wait seconds for a SYN retransmission before they even reach a node).
 *
 * @example
 * await using proxy = await ProxyProcess.start(cluster.ports)
 * const client = createClient(Contract, { url: `${proxy.url}/switchyard` })
 */
export class ProxyProcess implements AsyncDisposable {
  private constructor(
    private readonly child: ChildProcess,
    /** The port the proxy listens on, on 127.0.0.1. */
    readonly port: number,
  ) {}

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Starts the proxy in front of `127.0.0.1:<port>` for each of `upstreams`; `execArgv`: Node's own options. */
  static async start(upstreams: readonly number[], execArgv: readonly string[] = []): Promise<ProxyProcess> {
    const here = process.env.SWITCHYARD_CLUSTER_DIR ?? dirname(fileURLToPath(import.meta.url))
    const script = await bundleForNode("proxy", main, here)
    const child = spawn(process.execPath, [...execArgv, script, ...upstreams.map(String)], {
      stdio: ["ignore", "pipe", "inherit"],
    })
    const kill = () => child.kill("SIGKILL")
    process.once("exit", kill)
    child.once("exit", () => process.off("exit", kill))
    const port = await new Promise<number>((resolve, reject) => {
      let out = ""
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const match = /proxy listening on (\d+)/.exec(out)
        if (match) resolve(Number(match[1]))
      })
      child.once("exit", (code, signal) => reject(new Error(`the proxy exited (${signal ?? code}): ${out}`)))
    })
    return new ProxyProcess(child, port)
  }

  /** Stops the proxy (SIGTERM: it closes, so that a CPU profile it was started with is written). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, "exit")
    this.child.kill("SIGTERM")
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000)
    await exited
    clearTimeout(timer)
  }
}

/** The proxy process: argv are the upstream ports; it prints its own port, and closes on SIGTERM. */
const main = `
import { RoundRobinProxy } from "./roundRobin.ts"
const proxy = await RoundRobinProxy.start(process.argv.slice(2).map(Number))
console.log("proxy listening on " + proxy.port)
process.once("SIGTERM", () => {
  const quit = setTimeout(() => process.exit(0), 2000)
  proxy[Symbol.asyncDispose]().then(() => {
    clearTimeout(quit)
    process.exit(0)
  })
})
`
