import { runTransportContractSuite } from "@switchyard/core/testing"
import { clusterHarness } from "./support/cluster/harness.ts"

// The transport contract suite against a node in its own process, behind the round-robin proxy: proves
// the many-node harness end to end, on a duplex transport and on an HTTP one.
runTransportContractSuite("websocket (node process, round-robin proxy)", clusterHarness("websocket"))
runTransportContractSuite("long-polling (node process, round-robin proxy)", clusterHarness("long-polling"))
