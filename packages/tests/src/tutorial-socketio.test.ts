// docs/tutorial-socketio.md: the same chat on Socket.IO (examples/socketio-migration/src/before) and on
// Switchyard (src/after), driven by one scenario with Node clients; both must show the same behaviour.
import { connectAfter } from "@switchyard/example-socketio-migration/src/after/client.ts"
import { startAfter } from "@switchyard/example-socketio-migration/src/after/server.ts"
import { connectBefore } from "@switchyard/example-socketio-migration/src/before/client.ts"
import { startBefore } from "@switchyard/example-socketio-migration/src/before/server.ts"
import { runScenario, type Transcript } from "@switchyard/example-socketio-migration/src/scenario.ts"
import { describe, expect, it } from "vitest"

/** What the tutorial promises each user sees, on either version. */
const expected: Transcript = {
  alice: [
    "lobby#1 alice: hello",
    "ack lobby#1 alice: hello",
    "lobby#2 alice: while you were away",
    "lobby#3 bob: back",
  ],
  bob: [
    "lobby#1 alice: hello",
    "refused: NotJoined",
    // missed while his connection was down, replayed once when it came back
    "lobby#2 alice: while you were away",
    "lobby#3 bob: back",
    "ack lobby#3 bob: back",
  ],
  "bob connection": ["down", "recovered"],
  carol: ["garden#1 carol: anyone?", "ack garden#1 carol: anyone?"],
  dave: ["history lobby#1 alice: hello", "history lobby#2 alice: while you were away", "history lobby#3 bob: back"],
  server: ["mallory refused: Unauthorized"],
}

describe("tutorial: migrating from Socket.IO", () => {
  it("the Socket.IO app (before) behaves as the tutorial says", async () => {
    const app = await startBefore()
    try {
      expect(await runScenario((token) => connectBefore(app.url, token))).toEqual(expected)
    } finally {
      await app.close()
    }
  })

  it("the Switchyard app (after) behaves the same", async () => {
    const app = await startAfter()
    try {
      expect(await runScenario((token) => connectAfter(app.url, token))).toEqual(expected)
    } finally {
      await app.close()
    }
  })
})
