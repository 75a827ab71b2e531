import { runTransportContractSuite } from "@switchyard/core/testing"
import { fileCluster } from "./support/cluster/fileCluster.ts"

// Issue 11, done when: three node processes on one real redis-server behind Debian's nginx with a
// round-robin upstream (no ip_hash), Node clients; a TCP proxy before nginx cuts or stalls the network.
const cluster = fileCluster({ nodes: 3, balancer: "nginx" })
runTransportContractSuite("websocket (3 node processes on Redis, nginx round robin)", cluster.harness("websocket"))
runTransportContractSuite(
  "long-polling (3 node processes on Redis, nginx round robin)",
  cluster.harness("long-polling"),
)
