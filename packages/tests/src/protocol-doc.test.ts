import { readFileSync } from "node:fs"
import { join } from "node:path"
import { closeCodeOf, contract, type ErrorCode, rpc, stream, topic } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { createServer, type Server } from "@switchyard/server-node"
import * as Schema from "effect/Schema"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { servedCounting } from "./support/takenRequests.ts"

/**
 * docs/protocol.md checked against the real server, with raw sockets and plain HTTP requests, point by
 * point where a client written from the page alone tripped (issue 14, item 6), and its worked example
 * frame by frame.
 */

const root = join(import.meta.dirname, "../../..")
const page = () => readFileSync(join(root, "docs/protocol.md"), "utf8")

// The contract and handlers of the page's worked example.
const Chat = contract({
  rpc: { add: rpc({ input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number }) },
  streams: { countdown: stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number }) },
  topics: { room: topic({ message: Schema.Struct({ user: Schema.String, text: Schema.String, at: Schema.Date }) }) },
})

const text = { "content-type": "text/plain;charset=UTF-8" }
const HELLO = "[20,1,null,0]"

const servers: Array<Server<typeof Chat>> = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close()
})

async function start(options: { path?: string; pollTimeoutMs?: number } = {}) {
  let adds = 0
  const ended: ErrorCode[] = []
  const server = createServer(
    Chat,
    {
      rpc: {
        add: ({ a, b }) => {
          adds++
          return a + b
        },
      },
      streams: {
        countdown: async function* ({ from }) {
          for (let i = from; i >= 0; i--) yield i
        },
      },
    },
    {
      path: options.path ?? "/switchyard",
      limits: options.pollTimeoutMs === undefined ? {} : { pollTimeoutMs: options.pollTimeoutMs },
      onSessionEnd: (_session, code) => ended.push(code),
      onError: () => {},
    },
  )
  servers.push(server)
  const { url, port } = await server.listen(0, "127.0.0.1")
  return { server, url, port, ended, adds: () => adds }
}

/** A hand-written WebSocket client: every text message it gets, in order, and how the socket closed. */
class RawSocket {
  readonly frames: string[] = []
  closed: { code: number; reason: string } | undefined
  private read = 0

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => this.frames.push(String(data)))
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: String(reason) }
    })
  }

  static async open(url: string): Promise<RawSocket> {
    const ws = new WebSocket(url.replace(/^http/, "ws"))
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve())
      ws.once("error", reject)
    })
    return new RawSocket(ws)
  }

  send(frame: string): void {
    this.ws.send(frame)
  }

  /** The next server frame not read yet. */
  async next(timeoutMs = 5000): Promise<string> {
    await waitFor(() => this.frames.length > this.read, timeoutMs, `server frame ${this.read + 1}`)
    return this.frames[this.read++] as string
  }

  async whenClosed(): Promise<{ code: number; reason: string }> {
    await waitFor(() => this.closed !== undefined, 5000, "the close")
    return this.closed as { code: number; reason: string }
  }
}

/** An HTTP link opened by hand: the HELLO in the opening POST. */
async function openLink(url: string, transport: "long-polling" | "polling", hello = HELLO) {
  const opened = await fetch(`${url}?transport=${transport}`, { method: "POST", body: hello, headers: text })
  expect(opened.status).toBe(200)
  const { link } = (await opened.json()) as { link: string }
  const get = async (query = "") => {
    const response = await fetch(`${url}?transport=${transport}&link=${link}${query}`)
    return { status: response.status, body: await response.text() }
  }
  /** The first downstream frames: the WELCOME (a poll may come before the HELLO is handled). */
  const welcome = async () => {
    for (let i = 0; i < 50; i++) {
      const got = await get()
      expect(got.status).toBe(200)
      const frame = lines(got.body)[0]
      if (frame !== undefined) return JSON.parse(frame) as unknown[]
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error("no WELCOME")
  }
  return {
    link,
    get,
    welcome,
    post: (body: string) => fetch(`${url}?link=${link}`, { method: "POST", body, headers: text }),
    remove: () => fetch(`${url}?link=${link}`, { method: "DELETE" }),
  }
}

const lines = (body: string) => body.split("\n").filter(Boolean)

describe("WELCOME has two optional trailing elements", () => {
  it("this server sends 8 elements: the 7 required and its offer of transports", async () => {
    const { url } = await start()
    const raw = await RawSocket.open(url)
    raw.send(HELLO)
    const welcome = JSON.parse(await raw.next()) as unknown[]
    expect(welcome).toHaveLength(8)
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: unknown[] }
    expect(welcome[7]).toEqual(offer.transports)
    expect(Object.keys(welcome[6] as object)).toEqual([
      "maxMessageBytes",
      "heartbeatIntervalMs",
      "heartbeatTimeoutMs",
      "resumeWindowMs",
      "maxDepth",
    ])
    raw.ws.close()
  })

  it("the page's frame-length rule names every frame with optional elements, WELCOME among them", () => {
    const rule = /The array has exactly one of the lengths shown[\s\S]*?\n- /.exec(page())?.[0] ?? ""
    for (const frame of ["ERROR", "SUBSCRIBE", "MESSAGE", "WELCOME", "SIGNAL", "UNRELIABLE"]) {
      expect(rule).toContain(`\`${frame}\``)
    }
    const handshake = /## Handshake[\s\S]*?```\n([\s\S]*?)```/.exec(page())?.[1] ?? ""
    expect(handshake).toContain("[, transports[, peerId]]]")
  })

  it("the table of close codes has a row for every close code a server sends, with its code", () => {
    const table = /\| close \| code \| sent by \|[\s\S]*?\n\n/.exec(page())?.[0] ?? ""
    const sent: ErrorCode[] = [
      "CLIENT_CLOSED",
      "SERVER_CLOSED",
      "MESSAGE_TOO_LARGE",
      "SERVER_BUSY",
      "INVALID_FRAME",
      "UNSUPPORTED_VERSION",
      "HANDSHAKE_REQUIRED",
      "SEQUENCE_GAP",
      "LIMIT_EXCEEDED",
      "REPLAY_OVERFLOW",
      "HEARTBEAT_TIMEOUT",
      "CONNECTION_REPLACED",
      "SLOW_CONSUMER",
      "TOO_MANY_SESSIONS",
      "RATE_LIMITED",
      "AUTH_REFUSED",
      "READ_TIMEOUT",
    ]
    for (const code of sent) expect(table, code).toContain(`| ${closeCodeOf(code)} | \`${code}\``)
    // A take-over that timed out: CONNECTION_LOST's own close (1006) cannot be sent.
    expect(table).toContain("| 1013 | `CONNECTION_LOST`")
  })
})

describe("ack= on a poll", () => {
  for (const transport of ["long-polling", "polling"] as const) {
    it(`${transport}: an ack of frames never sent gets NOTICE SEQUENCE_GAP on that GET, closes the link and keeps the session`, async () => {
      const { url, ended } = await start()
      const link = await openLink(url, transport)
      const welcome = await link.welcome()
      const token = welcome[2] as string
      const forged = await link.get("&ack=5")
      expect(forged.status).toBe(200)
      expect(lines(forged.body).map((f) => (JSON.parse(f) as unknown[]).slice(0, 2))).toEqual([[25, "SEQUENCE_GAP"]])
      expect((await link.get()).status).toBe(410)
      // The session is kept: a new link resumes it.
      const again = await openLink(url, transport, `[20,1,${JSON.stringify(token)},0]`)
      const resumed = await again.welcome()
      expect(resumed.slice(0, 5)).toEqual([21, 1, token, welcome[3], true])
      expect(ended).toEqual([])
    })

    it(`${transport}: ack=0 is valid (it acknowledges nothing), and so is a repeated ack`, async () => {
      // A long poll with nothing to send is answered empty after pollTimeoutMs.
      const { url } = await start({ pollTimeoutMs: 200 })
      const link = await openLink(url, transport)
      await link.welcome()
      expect(await link.get("&ack=0")).toEqual({ status: 200, body: "" })
      await link.post('[1,1,1,"add",{"a":1,"b":2}]')
      const answer = async () => {
        for (;;) {
          const got = await link.get("&ack=0")
          expect(got.status).toBe(200)
          if (got.body !== "") return lines(got.body)
        }
      }
      expect((await answer())[0]).toBe("[2,1,1,3]")
      expect((await link.get("&ack=1")).status).toBe(200)
      expect((await link.get("&ack=1")).status).toBe(200)
      expect((await link.get("&ack=0")).status).toBe(200)
    })

    it(`${transport}: a bad ack on an unknown link gets 410, not 400; on a live link 400, and the link stays`, async () => {
      const { url } = await start()
      const unknown = await fetch(`${url}?transport=${transport}&link=nosuchlink&ack=abc`)
      expect(unknown.status).toBe(410)
      expect(await unknown.json()).toMatchObject({ code: "LINK_GONE" })
      const link = await openLink(url, transport)
      await link.welcome()
      const bad = await link.get("&ack=abc")
      expect(bad.status).toBe(400)
      expect(JSON.parse(bad.body)).toMatchObject({ code: "INVALID_FRAME" })
      await link.post('[1,1,1,"add",{"a":1,"b":2}]')
      let got = await link.get()
      while (got.body === "") got = await link.get()
      expect(lines(got.body)[0]).toBe("[2,1,1,3]")
    })
  }

  it("sse: a bad ack on an unknown link gets event: gone", async () => {
    const { url } = await start()
    const gone = await fetch(`${url}?transport=sse&link=nosuchlink&ack=abc`)
    expect(gone.status).toBe(200)
    expect(await gone.text()).toBe("retry: 500\n\nevent: gone\ndata:\n\n")
  })

  it("long-polling: a closed link's last frames go to the next GET, whatever its ack", async () => {
    const { url } = await start()
    const link = await openLink(url, "long-polling")
    await link.welcome()
    await link.post('[26,"CLIENT_CLOSED","bye"]')
    const last = await link.get("&ack=abc")
    expect(last.status).toBe(200)
    expect(lines(last.body).map((f) => (JSON.parse(f) as unknown[])[1])).toEqual(["CLIENT_CLOSED"])
    expect((await link.get("&ack=abc")).status).toBe(410)
  })

  it("long-polling: a held poll replaced by one whose ack is bad gets 204; the new one collects the NOTICE", async () => {
    const { server } = await start()
    await using served = await servedCounting(server)
    const link = await openLink(served.url, "long-polling")
    await link.welcome()
    const before = served.taken()
    const held = link.get()
    await waitFor(() => served.taken() > before, 5000, "the first poll to be held")
    // A 400 leaves it held.
    expect((await link.get("&ack=x")).status).toBe(400)
    const forged = await link.get("&ack=3")
    expect(await held).toEqual({ status: 204, body: "" })
    expect(forged.status).toBe(200)
    expect(lines(forged.body).map((f) => (JSON.parse(f) as unknown[])[1])).toEqual(["SEQUENCE_GAP"])
    expect((await link.get()).status).toBe(410)
  })

  it("long-polling: a held poll replaced by a plain one gets 204, and the new one is held", async () => {
    const { server } = await start()
    await using served = await servedCounting(server)
    const link = await openLink(served.url, "long-polling")
    await link.welcome()
    const before = served.taken()
    const held = link.get()
    await waitFor(() => served.taken() > before, 5000, "the first poll to be held")
    const replacing = link.get("&ack=0")
    expect(await held).toEqual({ status: 204, body: "" })
    await link.post('[1,1,1,"add",{"a":1,"b":2}]')
    const got = await replacing
    expect(got.status).toBe(200)
    expect(lines(got.body)[0]).toBe("[2,1,1,3]")
  })
})

describe("too many invalid frames", () => {
  it("each invalid frame gets one NOTICE; the 17th says it is one too many, and the connection closes with 4000", async () => {
    const { url } = await start()
    const raw = await RawSocket.open(url)
    raw.send(HELLO)
    await raw.next()
    for (let i = 0; i < 16; i++) raw.send("garbage")
    for (let i = 0; i < 16; i++) expect(JSON.parse(await raw.next())).toEqual([25, "INVALID_FRAME", expect.any(String)])
    // Sixteen are allowed: the connection still works.
    raw.send('[1,1,1,"add",{"a":1,"b":2}]')
    expect(await raw.next()).toBe("[2,1,1,3]")
    raw.send("garbage")
    raw.send("garbage")
    const closed = await raw.whenClosed()
    expect(closed).toEqual({ code: 4000, reason: "INVALID_FRAME" })
    const notices = raw.frames.filter((f) => f.startsWith("[25,"))
    expect(notices).toHaveLength(17)
    expect(JSON.parse(notices[16] as string)[2]).toMatch(/^too many invalid frames/)
  })
})

describe("after the client's own BYE", () => {
  it("WebSocket: the server answers BYE CLIENT_CLOSED, closes with 1000 and reads nothing after the BYE", async () => {
    const { url, ended, adds } = await start()
    const raw = await RawSocket.open(url)
    raw.send(HELLO)
    const welcome = JSON.parse(await raw.next()) as unknown[]
    raw.send('[26,"CLIENT_CLOSED","bye"]')
    raw.send('[1,1,1,"add",{"a":1,"b":2}]')
    expect(await raw.whenClosed()).toEqual({ code: 1000, reason: "CLIENT_CLOSED" })
    expect(raw.frames.slice(1)).toEqual(['[26,"CLIENT_CLOSED","the client closed the session"]'])
    expect(adds()).toBe(0)
    expect(ended).toEqual(["CLIENT_CLOSED"])
    // The token is dead: a HELLO with it starts a new session.
    const again = await RawSocket.open(url)
    again.send(`[20,1,${JSON.stringify(welcome[2])},0]`)
    expect((JSON.parse(await again.next()) as unknown[])[4]).toBe(false)
    again.ws.close()
  })

  it("WebSocket: a client that closes right after its BYE, without waiting, still ends the session at once", async () => {
    const { url, ended } = await start()
    const raw = await RawSocket.open(url)
    raw.send(HELLO)
    await raw.next()
    raw.send('[26,"CLIENT_CLOSED","bye"]')
    raw.ws.close(1000, "CLIENT_CLOSED")
    await waitFor(() => ended.length > 0, 2000, "the end of the session")
    expect(ended).toEqual(["CLIENT_CLOSED"])
  })

  it("HTTP: the POST of the BYE gets 204 once the session has ended; the DELETE after it gets 204, then 410", async () => {
    const { url, ended } = await start()
    const link = await openLink(url, "long-polling")
    await link.welcome()
    expect((await link.post('[26,"CLIENT_CLOSED","bye"]')).status).toBe(204)
    expect(ended).toEqual(["CLIENT_CLOSED"])
    expect((await link.remove()).status).toBe(204)
    expect((await link.remove()).status).toBe(410)
    expect((await link.get()).status).toBe(410)
  })
})

describe("listen(port, host)", () => {
  it("returns the port it got and the URL a client connects to", async () => {
    const server = createServer(
      Chat,
      { rpc: { add: ({ a, b }) => a + b }, streams: { countdown: async function* () {} } },
      {
        path: "rt/",
      },
    )
    servers.push(server)
    const { port, url } = await server.listen(0, "127.0.0.1")
    expect(port).toBeGreaterThan(0)
    expect(url).toBe(`http://127.0.0.1:${port}/rt`)
    expect((await fetch(`${url}?negotiate=1`)).status).toBe(200)
    await expect(server.listen(0, "127.0.0.1")).rejects.toThrow(/already called/)
    const taken = createServer(Chat, {
      rpc: { add: ({ a, b }) => a + b },
      streams: { countdown: async function* () {} },
    })
    servers.push(taken)
    await expect(taken.listen(port, "127.0.0.1")).rejects.toMatchObject({ code: "EADDRINUSE" })
  })

  it("names every interface localhost, and an IPv6 address in brackets", async () => {
    const handlers = {
      rpc: { add: ({ a, b }: { a: number; b: number }) => a + b },
      streams: { countdown: async function* () {} },
    }
    const everywhere = createServer(Chat, handlers)
    const v6 = createServer(Chat, handlers)
    servers.push(everywhere, v6)
    const all = await everywhere.listen()
    expect(all.url).toBe(`http://localhost:${all.port}/switchyard`)
    const loopback6 = await v6.listen(0, "::1")
    expect(loopback6.url).toBe(`http://[::1]:${loopback6.port}/switchyard`)
    expect((await fetch(`${loopback6.url}?negotiate=1`)).status).toBe(200)
    const raw = await RawSocket.open(loopback6.url)
    raw.send(HELLO)
    expect((JSON.parse(await raw.next()) as unknown[])[0]).toBe(21)
    raw.ws.close()
  })
})

describe("the worked example", () => {
  type Row = { readonly dir: "C→S" | "S→C"; readonly frame: string }

  /** The example's rows as the page gives them: direction and frame, with `L` and `T` as written. */
  function pageRows(): { rows: Row[]; L: string; T: string } {
    const section = /## Worked example\n([\s\S]*?)\n## /.exec(page())?.[1] ?? ""
    const rows = [...section.matchAll(/^\| \d+ \| (C→S|S→C) \| `([^`]+)` \|/gm)].map(
      (m) => ({ dir: m[1], frame: m[2] }) as Row,
    )
    const L = /`L` below stands for the limits object\s+`([^`]+)`/.exec(section)?.[1] ?? ""
    const T = /`T` for the server's offer of transports\s+`([^`]+)`/.exec(section)?.[1] ?? ""
    return { rows, L, T }
  }

  /** Random values (token, session id) become names, so that two runs compare equal. */
  function normalize(rows: readonly Row[]): Row[] {
    const welcome = rows.find((r) => r.frame.startsWith("[21,"))?.frame ?? ""
    const [, token = "?", sessionId = "?"] = /^\[21,1,"([^"]+)","([^"]+)"/.exec(welcome) ?? []
    return rows.map((r) => ({ dir: r.dir, frame: r.frame.replaceAll(token, "<token>").replaceAll(sessionId, "<id>") }))
  }

  it("is what the real server sends, frame by frame", { timeout: 40_000 }, async () => {
    const server = createServer(
      Chat,
      {
        rpc: { add: ({ a, b }) => a + b },
        streams: {
          countdown: async function* ({ from }) {
            for (let i = from; i >= 0; i--) yield i
          },
        },
      },
      { path: "/rt" },
    )
    servers.push(server)
    const { url } = await server.listen(0, "127.0.0.1")
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: unknown }
    const transcript: Row[] = []
    let raw = await RawSocket.open(url)
    const send = (frame: string) => {
      transcript.push({ dir: "C→S", frame })
      raw.send(frame)
    }
    const receive = async (count = 1, timeoutMs = 5000) => {
      for (let i = 0; i < count; i++) transcript.push({ dir: "S→C", frame: await raw.next(timeoutMs) })
    }
    const room = server.topics.room("lobby")
    const say = (user: string, text: string, at: string) => room.publish({ user, text, at: new Date(at) })

    send(HELLO)
    await receive()
    const token = (JSON.parse(transcript[1]?.frame ?? "[]") as unknown[])[2] as string
    send('[1,1,1,"add",{"a":1,"b":2}]')
    await receive(2) // RESULT, then the delayed ACK
    send('[4,2,2,"countdown",{"from":3},2]')
    await receive(3) // two ITEMs (the credit), ACK
    send("[8,3,2,2]")
    await receive(3) // two ITEMs, ACK
    send("[8,4,2,2]")
    await receive(2) // END, ACK
    send('[9,5,3,"room","lobby"]')
    await receive(2) // RESULT, ACK
    send("[22,7]")
    await say("bot", "hi", "2024-05-01T10:00:00.000Z")
    await receive()
    // The connection drops; two messages are published meanwhile.
    raw.ws.terminate()
    await say("bot", "anyone?", "2024-05-01T10:00:05.000Z")
    await say("ann", "here", "2024-05-01T10:00:06.000Z")
    raw = await RawSocket.open(url)
    send(`[20,1,${JSON.stringify(token)},8]`)
    await receive(3) // WELCOME, the two replayed MESSAGEs
    send('[1,6,4,"add",{"a":2,"b":2}]')
    await receive(2) // RESULT, ACK
    send("[22,11]")
    await receive(1, 20_000) // the PING, heartbeatIntervalMs after the resume
    send("[24,11]")
    send('[26,"CLIENT_CLOSED","bye"]')
    await receive()
    expect(await raw.whenClosed()).toEqual({ code: 1000, reason: "CLIENT_CLOSED" })

    const shown = transcript.map((r) => ({
      dir: r.dir,
      frame: r.frame.replace(JSON.stringify(offer.transports), "T").replace(/,\{"maxMessageBytes"[^}]*\}/, ",L"),
    }))
    // For the page, when it must be written again: the transcript as rows.
    if (process.env.PRINT_WORKED_EXAMPLE)
      console.log(shown.map((r, i) => `| ${i + 1} | ${r.dir} | \`${r.frame}\` |`).join("\n"))
    const expected = pageRows()
    expect(normalize(expected.rows)).toEqual(normalize(shown))
    const welcome = JSON.parse(transcript[1]?.frame ?? "[]") as unknown[]
    expect(expected.L).toBe(JSON.stringify(welcome[6]))
    expect(expected.T).toBe(JSON.stringify(offer.transports))
  })
})

describe("the worked example over long polling", () => {
  type Exchange = { readonly request: string; readonly body: string; readonly answer: string }

  function pageExchanges(): Exchange[] {
    const section = /### The same over long polling\n([\s\S]*?)\n## /.exec(page())?.[1] ?? ""
    return [...section.matchAll(/^\| \d+ \| `([^`]+)` \| (?:`([^`]*)`|—) \| `([^`]+)` \|/gm)].map((m) => ({
      request: m[1] as string,
      body: m[2] ?? "",
      answer: m[3] as string,
    }))
  }

  /** Link ids, the token and the session id become names, in order of appearance. */
  function normalize(exchanges: readonly Exchange[]): Exchange[] {
    const names = new Map<string, string>()
    for (const { answer } of exchanges) {
      const link = /^200 \{"link":"([^"]+)"\}$/.exec(answer)?.[1]
      if (link && !names.has(link)) names.set(link, `<link ${names.size + 1}>`)
      const welcome = /^200 \[21,1,"([^"]+)","([^"]+)"/.exec(answer)
      if (welcome?.[1] && welcome[2]) {
        names.set(welcome[1], "<token>")
        names.set(welcome[2], "<id>")
      }
    }
    const rename = (s: string) => [...names].reduce((acc, [from, to]) => acc.replaceAll(from, to), s)
    return exchanges.map((e) => ({ request: rename(e.request), body: rename(e.body), answer: rename(e.answer) }))
  }

  it("is what the real server answers, request by request", async () => {
    const server = createServer(
      Chat,
      { rpc: { add: ({ a, b }) => a + b }, streams: { countdown: async function* () {} } },
      { path: "/rt" },
    )
    servers.push(server)
    // Through an HTTP server that counts the requests the server has taken: a poll is held once taken.
    await using served = await servedCounting(server, "/rt")
    const url = served.url
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: unknown }
    const origin = new URL(url).origin
    const exchanges: Exchange[] = []
    const before = served.taken()
    /** Sends a request and returns its answer once it comes, recorded in the order the requests were sent. */
    const send = (method: string, target: string, body?: string) => {
      const index = exchanges.push({ request: `${method} ${target}`, body: body ?? "", answer: "" }) - 1
      return fetch(`${origin}${target}`, body === undefined ? { method } : { method, body, headers: text }).then(
        async (response) => {
          const answer = `${response.status}${(await response.text()).replace(/^(?=.)/, " ")}`
          exchanges[index] = { ...(exchanges[index] as Exchange), answer }
          return answer
        },
      )
    }
    const held = () =>
      waitFor(() => served.taken() - before === exchanges.length, 5000, "the server took every request")
    const linkOf = (answer: string) => (JSON.parse(answer.slice(4)) as { link: string }).link

    const first = linkOf(await send("POST", "/rt?transport=long-polling", HELLO))
    const poll = (query = "") => send("GET", `/rt?transport=long-polling&link=${first}${query}`)
    const welcome = JSON.parse((await poll()).slice(4)) as unknown[]
    const result = poll("&ack=0")
    await held()
    await send("POST", `/rt?link=${first}`, '[1,1,1,"add",{"a":1,"b":2}]')
    await result
    await poll("&ack=1")
    const replaced = poll("&ack=1")
    await held()
    const replacing = poll("&ack=1")
    await replaced
    await held()
    await poll("&ack=5")
    await replacing
    await poll("&ack=1")
    const second = linkOf(await send("POST", "/rt?transport=long-polling", `[20,1,${JSON.stringify(welcome[2])},1]`))
    await send("GET", `/rt?transport=long-polling&link=${second}`)
    await send("POST", `/rt?link=${second}`, '[26,"CLIENT_CLOSED","bye"]')
    await send("GET", `/rt?transport=long-polling&link=${second}&ack=1`)
    await send("DELETE", `/rt?link=${second}`)

    const shown = exchanges.map((e) => ({
      ...e,
      answer: e.answer.replace(JSON.stringify(offer.transports), "T").replace(/,\{"maxMessageBytes"[^}]*\}/, ",L"),
    }))
    if (process.env.PRINT_WORKED_EXAMPLE) {
      console.log(
        shown
          .map((e, i) => `| ${i + 1} | \`${e.request}\` | ${e.body ? `\`${e.body}\`` : "—"} | \`${e.answer}\` |`)
          .join("\n"),
      )
    }
    expect(normalize(pageExchanges())).toEqual(normalize(shown))
  })
})
