import { createClient } from "@switchyard/client-browser/all"
import type { Client } from "@switchyard/core"
import { type SuiteHarness, TestContract, type TestServerState } from "@switchyard/core/testing"
import { EventSource } from "eventsource"
import WebSocket from "ws"
import { connected, freshStorage, testClientOptions } from "../harnesses.ts"
import { ClusterNodes } from "./nodes.ts"
import { RoundRobinProxy } from "./roundRobin.ts"

/**
 * The transport contract suite's harness for nodes as processes behind the round-robin proxy: every
 * request and upgrade goes to the next node in turn. Server-side publishes go to the first node (with a
 * broker, every node's subscribers get them), subscriber counts add up every node's, and `drop()` and
 * `stall()` act on the proxy. With one node and no broker it proves the harness end to end; with
 * `redisUrl` and several nodes it runs the suite across a cluster.
 *
 * @example
 * runTransportContractSuite("websocket (3 nodes)", clusterHarness("websocket", { nodes: 3, redisUrl }))
 */
export function clusterHarness(
  transport: "websocket" | "sse" | "long-polling" | "polling",
  options: { readonly nodes?: number; readonly redisUrl?: string } = {},
): SuiteHarness {
  return {
    transport,
    async setup(setup) {
      const cluster = await ClusterNodes.start(options.nodes ?? 1, {
        ...(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl }),
        limits: { ...setup.serverLimits, resumeWindowMs: 10_000 },
      })
      const proxy = await RoundRobinProxy.start(cluster.ports).catch(async (error: unknown) => {
        await cluster[Symbol.asyncDispose]()
        throw error
      })
      const first = cluster.nodes[0] as (typeof cluster.nodes)[number]
      const state = {
        aborted: { has: (tag: string) => cluster.nodes.some((n) => n.aborted.has(tag)) },
      } as unknown as TestServerState
      const clients: Client<TestContract>[] = []
      const make = () => {
        const client = createClient(TestContract, {
          url: `${proxy.url}/switchyard`,
          transports: [transport],
          WebSocket,
          EventSource,
          negotiation: { storage: freshStorage() },
          ...testClientOptions,
        })
        clients.push(client)
        return connected(client)
      }
      return {
        client: await make(),
        createClient: make,
        publish: (topic, key, message) => first.publish(topic, key, message),
        subscribers: (topic, key) => cluster.nodes.reduce((sum, n) => sum + n.subscribers(topic, key), 0),
        state,
        drop: async () => proxy.drop(),
        stall: async (on) => proxy.stall(on),
        close: async () => {
          await Promise.all(clients.map((c) => c.close()))
          await proxy[Symbol.asyncDispose]()
          // Killed, not stopped: a graceful close waits for held requests, and the clients are gone already.
          await cluster[Symbol.asyncDispose]()
        },
      }
    },
  }
}
