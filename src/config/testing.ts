/**
 * TESTING=1 switches the whole stack to its off-Pi mode (unit = leader, experiment
 * `_testing_experiment`, config from ./.pioreactor, ...). The original also turns it on when
 * pytest is loaded; here callers pass the environment explicitly instead.
 */
export function isTesting(env: NodeJS.ProcessEnv): boolean {
  return env.TESTING === "1";
}
