/** The tunnel scenarios with our runner (src/core) through the dev engine's gateway. */
import { Runner } from "../../src/core/index.ts";
import {
	describeTunnelScenarios,
	type TunnelRunnerClass,
} from "./tunnel-scenarios.ts";

describeTunnelScenarios(
	"tunnel: our runner through the dev engine's gateway",
	Runner as unknown as TunnelRunnerClass,
);
