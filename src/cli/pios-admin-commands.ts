/**
 * `pios cp`, `pios rm`, `pios update app`, `pios plugins install|uninstall`: one unit API request per
 * unit, all at once, with the same progress bar, per-unit error lines and exit codes as the other
 * `pios` commands. Where the unit answers with a task, the command waits for its result, so a
 * unit whose install or removal failed fails the command (the original stops at "queued").
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { type ClusterHttp, type HttpReply, summarizeErrorReply } from "../leader/cluster/cluster-http";
import { activeJobUnits, allWorkerUnits, clusterUnitsWithLeader, explicitUnitsWithLeader } from "../leader/cluster/unit-selection";
import { updateOptionProblem } from "../leader/web/update-options";
import { UsageError } from "./exit";
import { failIfAny, type PiosDeps, printJsonResults, type TargetOptions, select, selectionDeps, selector, withTargets } from "./pios-commands";
import { fanOut } from "./pios-progress";
import { confirmOrAbort, pyTuple } from "./pios-prompt";

type UnitOutcome = { ok: true; value: Record<string, unknown> } | { ok: false; why: string };

const TASK_POLL_MS = 250;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A unit's answer, following a queued task to its end: a failed task, a `false` result, a held
 * lock or no result within `timeoutMs` is that unit's failure.
 */
async function followTask(deps: PiosDeps, http: ClusterHttp, unit: string, reply: HttpReply, timeoutMs: number): Promise<UnitOutcome> {
  if (!reply.ok) return { ok: false, why: summarizeErrorReply(reply) };
  const accepted = isObject(reply.json) ? reply.json : {};
  if (reply.status === 202 && accepted.status === "running" && typeof accepted.lock === "string") {
    return { ok: false, why: `another ${accepted.lock} operation is running on ${unit}; retry when it has finished.` };
  }
  if (reply.status !== 202 || typeof accepted.result_url_path !== "string") return { ok: true, value: { unit, ...accepted } };
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = deps.now().getTime() + timeoutMs;
  for (;;) {
    const poll = await http.unit(unit, "GET", accepted.result_url_path);
    const body = isObject(poll.json) ? poll.json : {};
    if (poll.status === 200 && body.status === "succeeded") {
      if (body.result === false) return { ok: false, why: "the unit reported that it did not succeed (see its logs)." };
      return { ok: true, value: { ...accepted, result: body.result } };
    }
    if (poll.status === 200 && body.status === "failed") return { ok: false, why: String(body.error ?? "the task failed") };
    if (poll.status !== 202) return { ok: false, why: summarizeErrorReply(poll) };
    if (deps.now().getTime() >= deadline) return { ok: false, why: `no result within ${Math.round(timeoutMs / 1000)} s; the task may still finish.` };
    await sleep(TASK_POLL_MS);
  }
}

/** Runs `send` on every unit; `errorLine` is printed (stderr) for each unit that failed. */
async function eachUnit(
  deps: PiosDeps,
  units: string[],
  label: string,
  send: (http: ClusterHttp, unit: string) => Promise<UnitOutcome>,
  errorLine: (unit: string, address: string, why: string) => string,
  limit = units.length,
): Promise<Array<{ unit: string; ok: boolean; value: Record<string, unknown> }>> {
  const http = deps.http();
  return fanOut(
    units,
    async (unit) => {
      let outcome: UnitOutcome;
      try {
        outcome = await send(http, unit);
      } catch (e) {
        outcome = { ok: false, why: (e as Error).message };
      }
      if (outcome.ok) return { ok: true, value: outcome.value };
      deps.warn(errorLine(unit, http.addressOf(unit), outcome.why));
      return { ok: false, value: { unit } };
    },
    deps.progress(label, units.length),
    limit,
  );
}

/** `rel` when `file` is inside `root`, else undefined. */
function insideRoot(root: string, file: string): string | undefined {
  const rel = path.relative(path.resolve(root), file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : undefined;
}

function registerCp(pios: Command, deps: PiosDeps): void {
  withTargets(pios.command("cp").description("copy a local file from leader to workers").argument("<src>").argument("[target]")).action(
    async (rawSrc: string, target: string | undefined, o: TargetOptions) => {
      const src = path.resolve(deps.cwd ?? deps.dotPioreactor, rawSrc);
      if (!fs.existsSync(src)) throw new UsageError(`Invalid value for 'SRC': Path '${rawSrc}' does not exist.`);
      if (!fs.statSync(src).isFile()) throw new UsageError(`Invalid value for 'SRC': '${rawSrc}' is not a file.`);
      const remotePath = target ?? src;
      const units = await select(() => allWorkerUnits(selectionDeps(deps), selector(o)));
      if (units.length === 0) return;
      const question = remotePath === src ? `Confirm copying ${src} onto ${pyTuple(units)}? Y/n: ` : `Confirm copying ${src} to ${remotePath} on ${pyTuple(units)}? Y/n: `;
      await confirmOrAbort(deps.prompt, Boolean(o.yes), question);
      // Inside $DOT_PIOREACTOR the unit API takes the file (relative, so each unit's own folder);
      // elsewhere, or on a unit without that route, the original's rsync over SSH.
      const relative = path.isAbsolute(remotePath) ? insideRoot(deps.dotPioreactor, remotePath) : remotePath;
      const content = relative !== undefined ? fs.readFileSync(src).toString("base64") : "";
      const results = await eachUnit(
        deps,
        units,
        "cp",
        async (http, unit) => {
          const rsync = async (): Promise<UnitOutcome> => {
            if (!deps.copyFileToUnit) return { ok: false, why: `${remotePath} is outside $DOT_PIOREACTOR and no rsync transport is available.` };
            await deps.copyFileToUnit(unit, http.addressOf(unit), src, remotePath);
            return { ok: true, value: { unit } };
          };
          if (relative === undefined) return rsync();
          const reply = await http.unit(unit, "POST", "/unit_api/system/file", { filepath: relative, content_base64: content }, 60_000);
          if (reply.ok) return { ok: true, value: { unit, ...(isObject(reply.json) ? reply.json : {}) } };
          if ((reply.status === 404 || reply.status === 405) && deps.copyFileToUnit) return rsync();
          return { ok: false, why: summarizeErrorReply(reply) };
        },
        (unit, _address, why) => `Error occurred copying to ${unit}: ${why}`,
        6,
      );
      failIfAny(results);
    },
  );
}

function registerRm(pios: Command, deps: PiosDeps): void {
  withTargets(pios.command("rm").description("remove a file on workers").argument("<filepath>")).action(async (rawPath: string, o: TargetOptions) => {
    const filepath = path.resolve(deps.cwd ?? deps.dotPioreactor, rawPath);
    const units = await select(() => allWorkerUnits(selectionDeps(deps), selector(o)));
    if (units.length === 0) return;
    await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm deleting ${filepath} on ${pyTuple(units)}? Y/n: `);
    const results = await eachUnit(
      deps,
      units,
      "rm",
      async (http, unit) => followTask(deps, http, unit, await http.unit(unit, "POST", "/unit_api/system/remove_file", { filepath }), 30_000),
      (unit, address, why) => `Unable to remove file on ${unit} at ${address} due to server error: ${why}`,
    );
    failIfAny(results);
  });
}

interface UpdateOptions extends TargetOptions {
  branch?: string;
  sha?: string;
  noDeps?: boolean;
  repo?: string;
  version?: string;
  source?: string;
}

function registerUpdate(pios: Command, deps: PiosDeps): void {
  const update = pios.command("update").description("Update Pioreactor software across workers.");
  withTargets(
    update
      .command("app")
      .description("update Pioreactor app on workers")
      .option("-b, --branch <branch>", "update to the github branch")
      .option("--sha <sha>", "update to a github commit SHA")
      .option("--no-deps", "skip dependency resolution for branch/SHA updates")
      .option("-r, --repo <repo>", "install from a repo on github. Format: username/project")
      .option("-v, --version <version>", "install a specific version, default is latest")
      .option("-s, --source <source>", "install from a source, whl or release archive"),
    { json: true },
  ).action(async (o: UpdateOptions, cmd: Command) => {
    for (const option of ["branch", "sha", "repo"] as const) {
      const value = o[option];
      const problem = value === undefined ? undefined : updateOptionProblem(option, value);
      if (problem) throw new UsageError(problem);
    }
    const selection = selectionDeps(deps);
    const units = o.units.length
      ? await select(() => explicitUnitsWithLeader(selection, selector(o)))
      : o.experiments.length
        ? await select(() => activeJobUnits(selection, selector(o)))
        : await select(() => clusterUnitsWithLeader(selection, selector(o)));
    if (units.length === 0) return;
    await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm updating app on ${pyTuple(units)}? Y/n: `);
    // Only one of version, branch, sha, source, in that order, as the original.
    const options: Record<string, string | null> = {};
    if (o.version !== undefined) options.version = o.version;
    else if (o.branch !== undefined) options.branch = o.branch;
    else if (o.sha !== undefined) options.sha = o.sha;
    else if (o.source !== undefined) options.source = o.source;
    // commander's `--no-deps` sets `deps: false`.
    if (cmd.opts().deps === false) options.no_deps = null;
    if (o.repo !== undefined) options.repo = o.repo;
    const results = await eachUnit(
      deps,
      units,
      "update",
      async (http, unit) => followTask(deps, http, unit, await http.unit(unit, "POST", "/unit_api/system/update/app", { options }, 60_000), 60_000),
      (unit, address, why) => `Unable to update on ${unit} at ${address} due to server error: ${why}`,
    );
    if (o.json) printJsonResults(deps, results);
    failIfAny(results);
  });
}

function registerPlugins(pios: Command, deps: PiosDeps): void {
  const plugins = pios.command("plugins").description("Manage plugins on workers.");
  const change = async (action: "install" | "uninstall", plugin: string, o: TargetOptions & { source?: string }) => {
    const units = await select(() => clusterUnitsWithLeader(selectionDeps(deps), selector(o)));
    if (units.length === 0) return;
    await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm ${action === "install" ? "installing" : "uninstalling"} ${plugin} on ${pyTuple(units)}? Y/n: `);
    const body = action === "install" ? { args: [plugin], options: o.source ? { source: o.source } : {} } : { args: [plugin] };
    const results = await eachUnit(
      deps,
      units,
      `plugins ${action}`,
      // npm can take minutes on a Pi Zero.
      async (http, unit) => followTask(deps, http, unit, await http.unit(unit, "POST", `/unit_api/plugins/${action}`, body, 60_000), 10 * 60_000),
      (unit, address, why) => `Unable to ${action} plugin on ${unit} at ${address} due to server error: ${why}`,
    );
    if (o.json) printJsonResults(deps, results);
    failIfAny(results);
  };
  withTargets(
    plugins
      .command("install")
      .description("install a plugin on workers")
      .argument("<plugin>")
      .option("--source <source>", "Install from a path, URL or npm spec instead of the registry name"),
    { json: true },
  ).action((plugin: string, o: TargetOptions & { source?: string }) => change("install", plugin, o));
  withTargets(plugins.command("uninstall").description("uninstall a plugin on workers").argument("<plugin>"), { json: true }).action(
    (plugin: string, o: TargetOptions) => change("uninstall", plugin, o),
  );
}

export function registerAdminCommands(pios: Command, deps: PiosDeps): void {
  registerCp(pios, deps);
  registerRm(pios, deps);
  registerUpdate(pios, deps);
  registerPlugins(pios, deps);
}
