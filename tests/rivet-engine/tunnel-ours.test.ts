/** The tunnel scenarios with our runner (src/core) through the real Rivet Engine's gateway. */
import { Runner } from "../../src/core/index.ts";
import {
	describeTunnelScenarios,
	type TunnelRunnerClass,
} from "../e2e/tunnel-scenarios.ts";

describeTunnelScenarios(
	"tunnel: our runner through the real Rivet Engine's gateway",
	Runner as unknown as TunnelRunnerClass,
	"rivet",
);
