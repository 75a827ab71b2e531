export {
  rejection,
  runTransportContractSuite,
  type SuiteFixture,
  type SuiteHarness,
  type SuiteSetup,
  waitFor,
} from "./suite.ts"
export { TestContract, type TestServerState, testHandlers } from "./testContract.ts"
