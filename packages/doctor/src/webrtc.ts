import { createClient, longPollingTransport } from "@switchyard/client-browser"
import { contract } from "@switchyard/core"
import { webrtcTransport } from "@switchyard/webrtc-data"
import type { WebRtcProbe } from "./doctor.ts"

/** No procedures: the doctor's session only carries the signalling and the move to a data channel. */
const Nothing = contract({})

/**
 * WebRTC in a browser: a data channel is set up over a session that is already open (docs/webrtc.md), so
 * this one probe opens a session, on long polling, and waits for the client to move it onto a data channel
 * (the same probe a negotiating client makes). Nothing is remembered between runs.
 */
export async function probeWebRtc(url: string, timeoutMs: number): Promise<WebRtcProbe> {
  const memory = new Map<string, string>()
  const started = performance.now()
  const client = createClient(Nothing, {
    url,
    // Ranked first, so that the session (which starts on long polling) moves up to it.
    transports: [webrtcTransport(), longPollingTransport()],
    negotiation: {
      storage: { getItem: (key) => memory.get(key) ?? null, setItem: (key, value) => memory.set(key, value) },
    },
  })
  try {
    return await new Promise<WebRtcProbe>((resolve) => {
      const timer = setTimeout(
        () =>
          resolve({
            connectedMs: undefined,
            reason:
              client.state === "connected" ? `no data channel in ${timeoutMs} ms` : "no session to set it up over",
          }),
        timeoutMs,
      )
      client.on("transport", (name) => {
        if (name !== "webrtc") return
        clearTimeout(timer)
        resolve({ connectedMs: Math.round(performance.now() - started), reason: "" })
      })
    })
  } finally {
    await client.close()
  }
}
