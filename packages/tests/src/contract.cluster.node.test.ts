import { runTransportContractSuite } from "@switchyard/core/testing"
import { clusterHarness } from "./support/sessionCluster.ts"

// Three nodes behind a round robin with no affinity: each connection and each HTTP request goes to the
// next node, so sessions are taken over and HTTP requests relayed (docs/scaling.md).
runTransportContractSuite("websocket across 3 nodes", clusterHarness("websocket"))
runTransportContractSuite("sse across 3 nodes", clusterHarness("sse"))
runTransportContractSuite("long-polling across 3 nodes", clusterHarness("long-polling"))
runTransportContractSuite("polling across 3 nodes", clusterHarness("polling"))
