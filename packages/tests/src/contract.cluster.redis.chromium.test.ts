import { runTransportContractSuite } from "@switchyard/core/testing"
import { fileCluster } from "./support/cluster/fileCluster.ts"

// Issue 11, done when: the client in Chromium, against three node processes on one real redis-server
// behind the round-robin proxy with no affinity. The nodes serve the page too, so the page, its
// WebSocket and its requests share one origin (the default Origin check stays in force on every node).
const cluster = fileCluster({ nodes: 3, page: true })
runTransportContractSuite(
  "websocket (chromium, 3 node processes on Redis, round robin)",
  cluster.harness("websocket", "chromium"),
)
runTransportContractSuite("sse (chromium, 3 node processes on Redis, round robin)", cluster.harness("sse", "chromium"))
runTransportContractSuite(
  "long-polling (chromium, 3 node processes on Redis, round robin)",
  cluster.harness("long-polling", "chromium"),
)
