import { execFile } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { type Server as HttpServer, get as httpGet } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import type { DoctorReport } from "@switchyard/doctor"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterAll, beforeAll, describe, it } from "vitest"
import { ChaosProxy } from "./support/chaosProxy.ts"
import { bundleForNode } from "./support/cluster/bundle.ts"
import { Nginx } from "./support/cluster/nginx.ts"
import { doctorLocations } from "./support/doctorProxies.ts"
import { Squid } from "./support/squid.ts"

/**
 * `switchyard-doctor` (packages/doctor, docs/doctor.md) run as a command, in a child Node process, against
 * a real server: directly, and behind Debian's nginx configured to refuse the WebSocket upgrade and hold
 * event streams, and to cut held requests, and behind a proxy that flushes event streams in lumps (ChaosProxy).
 * Each run checks what the command reports it found.
 */

const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
  onError: () => {},
})
let port: number
let cli: string
beforeAll(async () => {
  port = (await server.listen(0, "127.0.0.1")).port
  // The command as its bin runs it, bundled from the sources (Node 20 runs no TypeScript).
  cli = await bundleForNode(
    "switchyard-doctor",
    // What bin/switchyard-doctor.mjs does with the built command.
    `import { run } from "${join(import.meta.dirname, "../../doctor/src/cli.ts")}"\nrun()`,
    import.meta.dirname,
  )
})
afterAll(() => server.close())

/** Short timings: a held stream is judged after 1.5 s, links are held 1.2 s. */
const fast = ["--timeout", "1500", "--hold", "1200"]
/** For the cases that judge no timing: a first echo may take up to 5 s, links are held 1.2 s. */
const patient = ["--timeout", "5000", "--hold", "1200"]

/** Runs the command; its exit code and output. */
function doctor(...args: string[]): Promise<{ code: number; out: string }> {
  return doctorWith(process.env, ...args)
}

/** Runs the command with `env`; its exit code and output. */
async function doctorWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; out: string }> {
  // The bundle is run under a name ending in switchyard-doctor, as npx runs the bin.
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, ...args], { timeout: 20_000, env })
    return { code: 0, out: stdout }
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string }
    if (typeof failed.code !== "number") throw error
    return { code: failed.code, out: `${failed.stdout ?? ""}${failed.stderr ?? ""}` }
  }
}

const verdicts = (report: DoctorReport) => Object.fromEntries(report.rows.map((row) => [row.id, row.verdict]))
/** The verdicts of a server that offers no WebRTC, reached with nothing in the way. */
const everyTransportWorks = {
  websocket: "works",
  sse: "works",
  "long-polling": "works",
  polling: "works",
  webrtc: "not offered",
}
const kinds = (report: DoctorReport) => report.findings.map((f) => `${f.transport}:${f.kind}`).sort()

// Concurrently: each case waits on its own timers (a hold, a timeout, a flush) far more than it computes.
describe.concurrent("switchyard-doctor", () => {
  it("straight to the server: every transport works, with a round trip each, and nothing is found", async ({
    expect,
  }) => {
    const { code, out } = await doctor(`http://127.0.0.1:${port}/switchyard`, "--json", ...fast)
    expect(code).toBe(0)
    const report = JSON.parse(out) as DoctorReport
    expect(verdicts(report)).toEqual(everyTransportWorks)
    for (const row of report.rows.filter((r) => r.verdict === "works")) {
      expect(row.roundTripsMs).toHaveLength(3)
      expect(row.roundTripMs).toBeGreaterThanOrEqual(0)
    }
    expect(report.findings).toEqual([])
    expect(report.endsOn).toBe("websocket")
    console.log(
      `[doctor] direct: ${report.rows
        .filter((r) => r.verdict === "works")
        .map((r) => `${r.id} ${r.roundTripMs} ms`)
        .join(", ")}`,
    )
  })

  it("behind nginx refusing the upgrade and holding event streams: WebSocket refused (426), SSE held, long polling works", async ({
    expect,
  }) => {
    await using nginx = await Nginx.start([port], doctorLocations.refusedAndBuffered)
    const url = `${nginx.url}/switchyard`
    const [text, json] = await Promise.all([doctor(url, ...fast), doctor(url, "--json", ...fast)])
    expect(json.code).toBe(0)
    const report = JSON.parse(json.out) as DoctorReport
    expect(verdicts(report)).toMatchObject({
      websocket: "refused",
      sse: "held",
      "long-polling": "works",
      polling: "works",
    })
    expect(report.rows.find((r) => r.id === "websocket")?.detail).toBe("upgrade refused, HTTP 426")
    expect(kinds(report)).toEqual(["sse:stream-held", "websocket:websocket-refused"])
    const longPolling = report.rows.find((r) => r.id === "long-polling")
    expect(longPolling?.roundTripsMs).toHaveLength(3)
    expect(longPolling?.roundTripMs).toBeGreaterThanOrEqual(0)
    expect(report.endsOn).toBe("long-polling")

    expect(text.code).toBe(0)
    expect(text.out).toMatch(/^ {2}websocket +refused .*upgrade refused, HTTP 426$/m)
    expect(text.out).toMatch(/^ {2}sse +held .*no event in 1500 ms$/m)
    expect(text.out).toMatch(/^ {2}long-polling +works +\d+ ms +\d+ ms +\d+–\d+ ms$/m)
    expect(text.out).toMatch(/^ {2}long-polling +█+ \d+ ms$/m)
    expect(text.out).toContain("drops the Upgrade header")
    expect(text.out).toContain("buffers the event stream and holds it back")
    expect(text.out).toContain("fix: docs/doctor.md#websocket-upgrade-refused")
    expect(text.out).toContain("fix: docs/doctor.md#event-stream-held")
    expect(text.out).toContain(
      "A client here that negotiates ends on long-polling, because websocket is refused and sse is held.",
    )
    console.log(`[doctor] nginx refusing and holding:\n${text.out}`)
  })

  it("behind nginx cutting held requests after 500 ms: long polling and WebSocket are reported cut", async ({
    expect,
  }) => {
    await using nginx = await Nginx.start([port], doctorLocations.cutting)
    // Held longer than the others: the cut comes 500 ms after the last probe, itself after the link's setup.
    const { code, out } = await doctor(`${nginx.url}/switchyard`, "--json", "--timeout", "1500", "--hold", "3000")
    expect(code).toBe(0)
    const report = JSON.parse(out) as DoctorReport
    expect(verdicts(report)).toMatchObject({ websocket: "cut", "long-polling": "cut", polling: "works" })
    const cutAt = (id: string) => Number(/after (\d+) ms/.exec(report.rows.find((r) => r.id === id)?.detail ?? "")?.[1])
    for (const id of ["websocket", "long-polling"]) {
      expect(cutAt(id)).toBeGreaterThanOrEqual(400)
      expect(cutAt(id)).toBeLessThan(3000)
    }
    expect(kinds(report)).toContain("long-polling:held-cut")
    // nginx answers the held poll 504 at its read timeout: the finding names it, not a lost connection.
    expect(report.rows.find((r) => r.id === "long-polling")?.detail).toMatch(/^link ended after \d+ ms: HTTP 504$/)
    expect(report.findings.find((f) => f.transport === "long-polling")?.message).toMatch(
      /^long-polling: the link was cut \d+ ms after it opened, while a request was held \(answered HTTP 504, a gateway's timeout\)$/,
    )
    console.log(`[doctor] nginx cutting: ${report.rows.map((r) => `${r.id} ${r.verdict} ${r.detail}`).join("; ")}`)
  })

  it("behind a proxy that flushes event streams every 1.5 s: SSE is reported buffered, its echoes in a batch", async ({
    expect,
  }) => {
    await using proxy = await ChaosProxy.start(port, { flushStreamsEveryMs: 1500 })
    // The first echo waits for a flush: up to 1.5 s.
    const { code, out } = await doctor(`${proxy.url}/switchyard`, "--json", "--timeout", "3000", "--hold", "1200")
    expect(code).toBe(0)
    const report = JSON.parse(out) as DoctorReport
    expect(verdicts(report)).toMatchObject({
      websocket: "works",
      sse: "buffered",
      "long-polling": "works",
      polling: "works",
    })
    const sse = report.rows.find((r) => r.id === "sse")
    expect(sse?.detail).toMatch(/^in a batch \(3 probes sent over \d+ ms came back within \d+ ms\)$/)
    // The first of the three waited for the flush after the third was sent.
    expect(Math.max(...(sse?.roundTripsMs ?? []))).toBeGreaterThanOrEqual(800)
    expect(kinds(report)).toEqual(["sse:stream-buffered"])
    expect(report.endsOn).toBe("websocket")
    console.log(`[doctor] flushing proxy: sse ${sse?.detail}, round trips ${sse?.roundTripsMs.join(", ")} ms`)
  })

  it("refuses a call without a URL, with its usage", async ({ expect }) => {
    const { code, out } = await doctor()
    expect(code).toBe(2)
    expect(out).toContain("usage: switchyard-doctor <url>")
  })
})

/**
 * `--proxy` and `--header`, one case after another, after the cases above: each starts its own squid,
 * nginx or server and a child Node process, and on a busy machine running them beside the cases that judge
 * timings above made those late. `--timeout 5000`: nothing here waits for a timeout, but a first echo
 * through squid on a loaded machine may take longer than the 1.5 s above.
 */
describe("switchyard-doctor --proxy and --header", () => {
  it("--proxy through squid refusing CONNECT: WebSocket refused by the proxy, the client ends on SSE", async ({
    expect,
  }) => {
    await using squid = await Squid.start({ tunnels: false })
    const { code, out } = await doctor(
      `http://127.0.0.1:${port}/switchyard`,
      "--json",
      "--proxy",
      squid.url,
      ...patient,
    )
    expect(code).toBe(0)
    const report = JSON.parse(out) as DoctorReport
    expect(verdicts(report)).toEqual({
      websocket: "refused",
      sse: "works",
      "long-polling": "works",
      polling: "works",
      webrtc: "not offered",
    })
    expect(report.findings).toEqual([
      {
        kind: "websocket-refused",
        transport: "websocket",
        message: `WebSocket: the upgrade was refused (the proxy refused to tunnel to 127.0.0.1:${port}: CONNECT answered 403)`,
      },
    ])
    expect(report.endsOn).toBe("sse")
    // The doctor's requests went through squid by absolute URL (squid logs them without their query).
    const requests = await squid.requests((r) => r.some((line) => line.startsWith("CONNECT")))
    expect(requests).toContain(`GET http://127.0.0.1:${port}/switchyard?`)
    expect(requests).toContain(`POST http://127.0.0.1:${port}/switchyard?`)
    expect(requests).toContain(`CONNECT 127.0.0.1:${port}`)
  })

  it("--proxy through squid allowing CONNECT: every transport works, WebSocket in a tunnel", async ({ expect }) => {
    await using squid = await Squid.start()
    const { code, out } = await doctor(
      `http://127.0.0.1:${port}/switchyard`,
      "--json",
      "--proxy",
      squid.url,
      ...patient,
    )
    expect(code).toBe(0)
    const report = JSON.parse(out) as DoctorReport
    expect(verdicts(report)).toEqual(everyTransportWorks)
    expect(report.findings).toEqual([])
    expect(report.endsOn).toBe("websocket")
    const requests = await squid.requests((r) => r.some((line) => line.startsWith("CONNECT")))
    expect(requests).toContain(`CONNECT 127.0.0.1:${port}`)
    expect(requests).toContain(`GET http://127.0.0.1:${port}/switchyard?`)
  })

  it("--proxy through squid to an nginx that gzips the offer and the polls' answers: asked for and decoded", async ({
    expect,
  }) => {
    await using nginx = await Nginx.start([port], doctorLocations.gzipped)
    await using squid = await Squid.start()
    // nginx compresses for a client that asks, as the command's fetch does.
    const encoding = await new Promise<string | undefined>((resolve, reject) => {
      const request = httpGet(
        `${nginx.url}/switchyard?negotiate=1`,
        { headers: { "accept-encoding": "gzip" } },
        (r) => {
          r.resume()
          resolve(r.headers["content-encoding"])
        },
      )
      request.on("error", reject)
    })
    expect(encoding).toBe("gzip")
    const { code, out } = await doctor(`${nginx.url}/switchyard`, "--json", "--proxy", squid.url, ...patient)
    expect(code).toBe(0)
    const report = JSON.parse(out) as DoctorReport
    expect(verdicts(report)).toEqual(everyTransportWorks)
    expect(report.findings).toEqual([])
  })

  it("--proxy to an https: server: every request and the WebSocket in CONNECT tunnels, TLS checked end to end", async ({
    expect,
  }) => {
    const dir = await mkdtemp(join(tmpdir(), "switchyard-doctor-tls-"))
    const [key, cert] = [join(dir, "key.pem"), join(dir, "cert.pem")]
    // A certificate for 127.0.0.1 that the command trusts through NODE_EXTRA_CA_CERTS, as Node's fetch would.
    await promisify(execFile)("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
      ...["-addext", "subjectAltName=IP:127.0.0.1"],
    ])
    const tlsServer = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) })
    const secure = createServer(
      TestContract,
      testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>,
      {
        onError: () => {},
      },
    )
    secure.attach(tlsServer as unknown as HttpServer)
    await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve))
    try {
      const tlsPort = (tlsServer.address() as AddressInfo).port
      await using squid = await Squid.start()
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: cert }
      const url = `https://127.0.0.1:${tlsPort}/switchyard`
      const [{ code, out }, untrusted] = await Promise.all([
        doctorWith(env, url, "--json", "--proxy", squid.url, ...patient),
        doctor(url, "--json", "--proxy", squid.url, ...patient),
      ])
      // Without the certificate trusted, the tunnel's TLS fails: the offer is not read.
      expect(untrusted.code).toBe(1)
      expect((JSON.parse(untrusted.out) as DoctorReport).findings.map((f) => f.kind)).toEqual(["server-not-reached"])
      expect(code).toBe(0)
      const report = JSON.parse(out) as DoctorReport
      expect(verdicts(report)).toEqual(everyTransportWorks)
      expect(report.findings).toEqual([])
      // Squid saw tunnels only: it cannot read what goes through them.
      const requests = await squid.requests((r) => r.length >= 5)
      expect(requests).toContain(`CONNECT 127.0.0.1:${tlsPort}`)
      expect(requests.filter((line) => !line.startsWith("CONNECT "))).toEqual([])
    } finally {
      await secure.close()
      tlsServer.closeAllConnections()
      await new Promise((resolve) => tlsServer.close(resolve))
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("--header against a server with authenticate: refused without it, every transport works with it", async ({
    expect,
  }) => {
    const seen = new Set<string>()
    const guarded = createServer(
      TestContract,
      testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>,
      {
        onError: () => {},
        authenticate: (request) => {
          const token = request.headers.authorization
          if (token !== "Bearer doctor") throw new Error("not signed in")
          seen.add(String(request.headers["x-doctor"]))
          return { token }
        },
      },
    )
    const { url } = await guarded.listen(0, "127.0.0.1")
    try {
      const [without, withIt] = await Promise.all([
        doctor(url, "--json", ...patient),
        doctor(url, "--json", "--header", "Authorization: Bearer doctor", "--header", "X-Doctor: yes", ...patient),
      ])
      expect(without.code).toBe(1)
      const refused = JSON.parse(without.out) as DoctorReport
      expect(refused.rows.filter((r) => r.verdict === "works")).toEqual([])
      expect(refused.rows.find((r) => r.id === "long-polling")?.detail).toMatch(/^ended after \d+ ms: HTTP 401$/)
      expect(refused.rows.find((r) => r.id === "websocket")?.detail).toMatch(/^ended after \d+ ms: AUTH_REFUSED$/)
      expect(withIt.code).toBe(0)
      const report = JSON.parse(withIt.out) as DoctorReport
      expect(verdicts(report)).toEqual(everyTransportWorks)
      expect(report.findings).toEqual([])
      expect([...seen]).toEqual(["yes"])
    } finally {
      await guarded.close()
    }
  })

  it("refuses a malformed --header or --proxy, with its usage", async ({ expect }) => {
    const url = `http://127.0.0.1:${port}/switchyard`
    for (const args of [
      ["--header", "no colon"],
      ["--header", ": empty name"],
      ["--proxy", "socks5://127.0.0.1:1080"],
      ["--proxy", "http://127.0.0.1:3128/path"],
    ]) {
      const { code, out } = await doctor(url, ...args)
      expect(code).toBe(2)
      expect(out).toContain("usage: switchyard-doctor <url>")
    }
  })
})
