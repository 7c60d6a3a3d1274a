/**
 * The checks the original applies to `pio update app` options before they reach a command line:
 * a git branch name, a GitHub `owner/name`, a commit SHA. Shared by the unit API and `pios update`.
 */

const GIT_REF = /^(?!\/|.*(?:\/\.|\/\/|\.\.|@\{|\\))[^\0-\x20~^:?*[\x7f]+(?<![/.]|\.lock)$/;
const GITHUB_REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const GIT_SHA = /^[0-9a-fA-F]{7,40}$/;

/** The problem with an update option's value, or undefined when it is fine. */
export function updateOptionProblem(option: string, value: string): string | undefined {
  if (option === "branch" && !GIT_REF.test(value)) return `Invalid branch name: ${value}`;
  if (option === "repo" && !GITHUB_REPO.test(value)) return `Invalid repo: ${value} (expected owner/name)`;
  if (option === "sha" && !GIT_SHA.test(value)) return `Invalid sha: ${value} (expected 7 to 40 hexadecimal characters)`;
  return undefined;
}
