/**
 * `pio experiments create NAME | list [-v] | delete NAME [-y]` (leader only), through the
 * leader's REST API as the original, with its messages.
 */
import type { Command } from "commander";
import type { ClusterHttp, HttpReply } from "../leader/cluster/cluster-http";
import type { Clock } from "../util/clock";
import { AbortError, CliError } from "./exit";
import type { PromptPort } from "./pios-prompt";

export interface ExperimentsCommandDeps {
  http(): ClusterHttp;
  clock: Clock;
  print(line: string): void;
  prompt: PromptPort;
}

async function call(f: () => Promise<HttpReply>): Promise<HttpReply> {
  try {
    return await f();
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

async function waitForTask(deps: ExperimentsCommandDeps, resultPath: string | undefined, name: string): Promise<void> {
  if (!resultPath) throw new CliError(`Failed to delete experiment '${name}' (missing task result URL)`);
  for (let i = 0; i < 600; i++) {
    const reply = await call(() => deps.http().leader("GET", resultPath, undefined, 5000));
    if (reply.status === 202) {
      await deps.clock.sleep(100);
      continue;
    }
    if (reply.status !== 200) throw new CliError(`Failed to delete experiment '${name}' (task HTTP ${reply.status})`);
    const payload = reply.json as { status?: string; error?: string };
    if (payload.status === "succeeded") return;
    if (payload.status === "failed") throw new CliError(payload.error || `Failed to delete experiment '${name}'`);
    await deps.clock.sleep(100);
  }
  throw new CliError(`Timed out while deleting experiment '${name}'`);
}

export function registerExperimentsCommands(program: Command, deps: ExperimentsCommandDeps): Command {
  const experiments = program.command("experiments").description("manage experiments");

  experiments
    .command("create")
    .description("create a new experiment")
    .argument("<name>")
    .action(async (name: string) => {
      const reply = await call(() => deps.http().leader("POST", "/api/experiments", { experiment: name }));
      if (reply.status === 200 || reply.status === 201) return deps.print(`Created experiment: ${name}`);
      if (reply.status === 409) throw new CliError(`Experiment '${name}' already exists (409)`);
      if (reply.status === 400) throw new CliError(`Invalid experiment name. ${String((reply.json as { error?: string })?.error ?? "")}`);
      throw new CliError(`Failed to create experiment '${name}' (HTTP ${reply.status})`);
    });

  experiments
    .command("list")
    .description("list experiments")
    .option("-v, --verbose", "show creation time and description")
    .action(async (o: { verbose?: boolean }) => {
      const reply = await call(() => deps.http().leader("GET", "/api/experiments"));
      if (!reply.ok) throw new CliError(`Failed to list experiments (HTTP ${reply.status})`);
      const rows = Array.isArray(reply.json) ? (reply.json as Array<{ experiment: string; created_at?: string; description?: string | null }>) : [];
      if (rows.length === 0) return deps.print("No experiments found");
      for (const row of rows) deps.print(o.verbose ? `${row.experiment}\t${row.created_at ?? ""}\t${row.description ?? ""}` : row.experiment);
    });

  experiments
    .command("delete")
    .description("delete an experiment")
    .argument("<name>")
    .option("-y, --yes", "do not prompt for confirmation")
    .action(async (name: string, o: { yes?: boolean }) => {
      if (!o.yes) {
        if (!deps.prompt.interactive) throw new CliError("Confirmation needed, but stdin is not a terminal. Re-run with -y/--yes to proceed without asking.");
        const answer = await deps.prompt.ask(`Delete experiment '${name}'? This will stop jobs in that experiment. [y/N]: `);
        if (!/^y(es)?$/i.test(answer.trim())) throw new AbortError();
      }
      const reply = await call(() => deps.http().leader("DELETE", `/api/experiments/${encodeURIComponent(name)}`));
      if (reply.status === 202) await waitForTask(deps, (reply.json as { result_url_path?: string })?.result_url_path, name);
      else if (reply.status === 404) throw new CliError(`Experiment '${name}' not found (404)`);
      else if (reply.status !== 200) throw new CliError(`Failed to delete experiment '${name}' (HTTP ${reply.status})`);
      deps.print(`Deleted experiment: ${name}`);
    });
  return experiments;
}

/** The real world for `pio experiments` on the leader. */
export function realExperimentsDeps(env: NodeJS.ProcessEnv, cwd: string, print: (l: string) => void): ExperimentsCommandDeps {
  const { loadConfig } = require("../config/load") as typeof import("../config/load");
  const { ClusterHttp } = require("../leader/cluster/cluster-http") as typeof import("../leader/cluster/cluster-http");
  const { RealClock } = require("../util/clock") as typeof import("../util/clock");
  const { terminalPrompt } = require("./pios-prompt") as typeof import("./pios-prompt");
  const clock = new RealClock();
  const http = new ClusterHttp({ config: loadConfig({ env, cwd }), fetch: (url, init) => fetch(url, init), clock });
  return { http: () => http, clock, print, prompt: terminalPrompt(process.stdin, process.stdout) };
}
