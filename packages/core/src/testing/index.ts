export {
  type SuiteFixture,
  type SuiteHarness,
  type SuiteSetup,
  runTransportContractSuite,
  waitFor,
} from "./suite.ts"
export { TestContract, type TestServerState, testHandlers } from "./testContract.ts"
