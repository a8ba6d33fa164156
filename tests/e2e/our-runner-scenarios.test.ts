/** The shared runner scenarios (tests/conformance/runner-scenarios.ts) with our runner on the dev engine. */
import { Runner } from "../../src/core/index.ts";
import {
	describeRunnerScenarios,
	type RunnerClass,
} from "../conformance/runner-scenarios.ts";

describeRunnerScenarios(
	"our runner on the dev engine",
	Runner as unknown as RunnerClass,
	"dev",
	"ours",
);
