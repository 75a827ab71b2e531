import { runTransportContractSuite } from "@switchyard/core/testing"
import { fileCluster } from "./support/cluster/fileCluster.ts"

// Issue 11, done when: three node processes on one real redis-server behind the round-robin proxy, no
// affinity. Every connection and every HTTP request goes to the next node, so sessions are taken over
// across processes and HTTP requests relayed over Redis. One cluster for the four suites.
const cluster = fileCluster({ nodes: 3 })
runTransportContractSuite("websocket (3 node processes on Redis, round robin)", cluster.harness("websocket"))
runTransportContractSuite("sse (3 node processes on Redis, round robin)", cluster.harness("sse"))
runTransportContractSuite("long-polling (3 node processes on Redis, round robin)", cluster.harness("long-polling"))
runTransportContractSuite("polling (3 node processes on Redis, round robin)", cluster.harness("polling"))
