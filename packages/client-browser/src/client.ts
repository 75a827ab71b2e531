import type { AnyContract, Client } from "@switchyard/core"
import { type ClientOptions, prepareContract } from "./options.ts"
import { ClientRuntime } from "./runtime.ts"

/**
 * Creates the typed client of a contract and starts connecting, over the transports given: only their
 * code ends up in the bundle. Calls made at once wait for the contract's codecs and the connection.
 *
 * @example
 * import { createClient, longPollingTransport, websocketTransport } from "@switchyard/client-browser"
 * const client = createClient(Chat, { url, transports: [websocketTransport(), longPollingTransport()] })
 * await client.rpc.add({ a: 1, b: 2 }) // 3
 */
export function createClient<C extends AnyContract>(contract: C, options: ClientOptions): Client<C> {
  return new ClientRuntime(contract, options, prepareContract).client as Client<C>
}
