/** The differential's other half: our runner (src/core) through the same scenarios as the reference runner. */
import { Runner } from "../../src/core/index.ts";
import {
	describeRunnerScenarios,
	type RunnerClass,
} from "../conformance/runner-scenarios.ts";

describeRunnerScenarios(
	"our runner on the dev engine",
	Runner as unknown as RunnerClass,
);
