// What the two WebRTC adapters share: node-datachannel peers bound to 127.0.0.1, and retried connects.
import { PeerConnection } from "node-datachannel"
import { RTCPeerConnection } from "node-datachannel/polyfill"

let peers = 0

/** node-datachannel's polyfill on a native peer bound to 127.0.0.1 (the typed way to pass `bindAddress`). */
export class LoopbackPeerConnection extends RTCPeerConnection {
  constructor(configuration = { iceServers: [] }) {
    const peerConnection = new PeerConnection(`bench-${process.pid}-${++peers}`, {
      iceServers: [],
      bindAddress: "127.0.0.1",
    })
    super({ ...configuration, peerConnection })
  }
}

/** Connects after a client has been set up this many times at most (the runner allows 60 s for it). */
export const CONNECT_ATTEMPTS = 3

/**
 * `connect()` again when it fails, at most `CONNECT_ATTEMPTS` times in all, logging each retry, so that
 * one failed connect does not cost a whole row. Before the signals were ordered (docs/webrtc.md, "The
 * order of the signals") a Node-to-Node connect sometimes never completed; a retry in the log now means
 * something new. `connect` must clean up after itself when it fails.
 */
export async function withRetries(name, connect) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect()
    } catch (error) {
      if (attempt === CONNECT_ATTEMPTS) throw error
      console.error(
        `${name} (pid ${process.pid}): ${error.message}; trying again (${attempt + 1} of ${CONNECT_ATTEMPTS})`,
      )
    }
  }
}
