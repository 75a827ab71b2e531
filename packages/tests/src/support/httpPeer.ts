import { control, decodeServerFrame, FrameType } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"

const text = { "content-type": "text/plain;charset=UTF-8" }

/**
 * A raw HTTP link, opened and read by hand as a hostile client would (docs/protocol.md#http-transports):
 * the opening POST with HELLO, then the transport's downstream read in the background (held polls, quick
 * polls or the event stream) into `frames`, until the link is gone (410 or `event: gone`).
 */
export class HttpPeer {
  readonly frames: unknown[][] = []
  readonly unreadable: string[] = []
  gone = false
  private readonly abort = new AbortController()
  private reading: Promise<void> = Promise.resolve()

  private constructor(
    readonly url: string,
    readonly transport: "long-polling" | "polling" | "sse",
    readonly link: string,
  ) {}

  static async open(url: string, transport: HttpPeer["transport"]): Promise<HttpPeer> {
    const opened = await fetch(`${url}?transport=${transport}`, {
      method: "POST",
      body: control.hello(1, null, 0),
      headers: text,
    })
    if (opened.status !== 200) throw new Error(`opening POST answered ${opened.status}`)
    const { link } = (await opened.json()) as { link: string }
    const peer = new HttpPeer(url, transport, link)
    peer.reading = peer.read().catch(() => {})
    await waitFor(() => peer.of(FrameType.WELCOME).length > 0, 3000, "WELCOME")
    return peer
  }

  /** An upstream POST; its status. */
  async post(body: string): Promise<number> {
    const response = await fetch(`${this.url}?link=${this.link}`, { method: "POST", body, headers: text })
    await response.arrayBuffer()
    return response.status
  }

  of(type: FrameType): unknown[][] {
    return this.frames.filter((f) => f[0] === type)
  }

  /** Stops reading and closes the link (DELETE). */
  async close(): Promise<void> {
    this.abort.abort()
    await this.reading
    if (!this.gone) await (await fetch(`${this.url}?link=${this.link}`, { method: "DELETE" })).arrayBuffer()
  }

  private take(line: string): void {
    if (line === "") return
    if (decodeServerFrame(line).ok) this.frames.push(JSON.parse(line) as unknown[])
    else this.unreadable.push(line)
  }

  private async read(): Promise<void> {
    const downstream = `${this.url}?transport=${this.transport}&link=${this.link}`
    const signal = this.abort.signal
    if (this.transport === "sse") {
      const response = await fetch(downstream, { signal })
      const decoder = new TextDecoder()
      let buffered = ""
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true })
        let end = buffered.indexOf("\n\n")
        while (end !== -1) {
          const event = buffered.slice(0, end).split("\n")
          buffered = buffered.slice(end + 2)
          if (event.includes("event: gone")) {
            this.gone = true
            return
          }
          for (const line of event) if (line.startsWith("data: ")) this.take(line.slice(6))
          end = buffered.indexOf("\n\n")
        }
      }
      return
    }
    while (!signal.aborted) {
      const response = await fetch(downstream, { signal })
      const body = await response.text()
      if (response.status === 410) {
        this.gone = true
        return
      }
      for (const line of body.split("\n")) this.take(line)
      if (this.transport === "polling") await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}
