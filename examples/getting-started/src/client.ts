// #region client
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { type ErrorOf, isFailure } from "@switchyard/core"
// Node 20 has no WebSocket of its own: hand the client the `ws` package's.
import WebSocket from "ws"
import { Calc } from "./contract.ts"

/** Calls the server at `url` (e.g. `http://localhost:3000/switchyard`) and logs what comes back. */
export async function runClient(url: string, log: (line: string) => void = console.log): Promise<void> {
  const client = createClient(Calc, { url, transports: [websocketTransport({ WebSocket })] })
  try {
    log(`10 ÷ 4 = ${await client.rpc.divide({ a: 10, b: 4 })}`)

    try {
      await client.rpc.divide({ a: 1, b: 0 })
    } catch (error) {
      if (!isFailure<ErrorOf<Calc["rpc"]["divide"]>>(error)) throw error
      log(`${error.data._tag}: cannot divide ${error.data.dividend} by zero`)
    }

    for await (const { n, at } of client.streams.countdown({ from: 3 })) log(`${n} at ${at.toISOString()}`)
    log("done")
  } finally {
    await client.close()
  }
}
// #endregion client
