/**
 * Which units a `pios` command targets, as the original decides it: explicit `--units`
 * (`$broadcast` = everyone), or the active workers of `--experiments`, or the inventory; never
 * both selectors; unknown names refused. Leader inclusion is a per-command policy.
 */
import { type ClusterHttp, UnreachableError } from "./cluster-http";

export const BROADCAST = "$broadcast";

/** A selector the user got wrong (the CLI shows it as a usage error, exit 2, as click's BadParameter). */
export class SelectionError extends Error {}

export interface Selector {
  units: string[];
  experiments: string[];
}

export interface SelectionDeps {
  http: ClusterHttp;
  leader: string;
  warn(line: string): void;
}

interface WorkerRow {
  pioreactor_unit: string;
  is_active: number | boolean;
}

async function workerRows(deps: SelectionDeps, path: string): Promise<WorkerRow[]> {
  const reply = await deps.http.leader("GET", path);
  if (!reply.ok || !Array.isArray(reply.json)) throw new Error(`HTTP ${reply.status}`);
  return reply.json as WorkerRow[];
}

async function inventory(deps: SelectionDeps, activeOnly: boolean): Promise<Set<string>> {
  try {
    const rows = await workerRows(deps, "/api/workers");
    return new Set(rows.filter((r) => !activeOnly || Boolean(r.is_active)).map((r) => r.pioreactor_unit));
  } catch (e) {
    if (!(e instanceof UnreachableError) && !(e instanceof Error)) throw e;
    // As the original: an unreachable inventory is reported, then treated as empty.
    deps.warn("Unable to get workers from the inventory. Is the webserver down?");
    return new Set();
  }
}

async function experimentUnits(deps: SelectionDeps, experiments: string[]): Promise<Set<string>> {
  const units = new Set<string>();
  for (const experiment of experiments) {
    try {
      for (const r of await workerRows(deps, `/api/experiments/${encodeURIComponent(experiment)}/workers`)) if (r.is_active) units.add(r.pioreactor_unit);
    } catch {
      deps.warn(`Unable to get workers for experiment '${experiment}'.`);
    }
  }
  if (experiments.length > 0 && units.size === 0) throw new SelectionError(`No active workers found for experiment(s): ${experiments.join(", ")}`);
  return units;
}

function explicit(units: string[]): Set<string> {
  return new Set(units.filter((u) => u !== BROADCAST));
}

async function selectorUnits(deps: SelectionDeps, sel: Selector, activeOnly: boolean): Promise<Set<string>> {
  if (sel.units.length > 0 && sel.experiments.length > 0) {
    throw new SelectionError("Use either --units or --experiments, not both. The combined selector is ambiguous.");
  }
  const named = explicit(sel.units);
  const known = await inventory(deps, activeOnly);
  const fromExperiments = await experimentUnits(deps, sel.experiments);
  const unknown = [...named].filter((u) => !known.has(u)).sort();
  if (unknown.length > 0) throw new SelectionError(`Unknown unit(s): ${unknown.join(", ")}. Check the inventory and retry.`);
  if (fromExperiments.size > 0) return fromExperiments;
  if (named.size > 0) return named;
  return known;
}

const sorted = (s: Set<string>) => [...s].sort();

/** Active workers (run, kill, jobs): the leader only if it is itself an active worker. */
export async function activeJobUnits(deps: SelectionDeps, sel: Selector): Promise<string[]> {
  const units = await selectorUnits(deps, sel, true);
  if (units.size === 0) throw new SelectionError("No target workers matched the selection. Check --units/--experiments.");
  return sorted(units);
}

/** Every worker, never the leader (cp, rm, reboot and shutdown unless the leader is named). */
export async function allWorkerUnits(deps: SelectionDeps, sel: Selector): Promise<string[]> {
  const units = await selectorUnits(deps, sel, false);
  units.delete(deps.leader);
  return sorted(units);
}

/** Every worker plus the leader (sync-configs). */
export async function clusterUnitsWithLeader(deps: SelectionDeps, sel: Selector): Promise<string[]> {
  const units = await selectorUnits(deps, sel, false);
  units.add(deps.leader);
  return sorted(units);
}

/** Exactly the named units, which may include the leader (reboot/shutdown naming the leader). */
export async function explicitUnitsWithLeader(deps: SelectionDeps, sel: Selector): Promise<string[]> {
  if (sel.experiments.length > 0) throw new SelectionError("Use either --units or --experiments, not both. The combined selector is ambiguous.");
  if (sel.units.includes(BROADCAST)) {
    throw new SelectionError(`${BROADCAST} is not valid with --units here. Omit --units and --experiments to target the whole cluster.`);
  }
  const named = explicit(sel.units);
  const known = await inventory(deps, false);
  known.add(deps.leader);
  const unknown = [...named].filter((u) => !known.has(u)).sort();
  if (unknown.length > 0) throw new SelectionError(`Unknown unit(s): ${unknown.join(", ")}. Check the inventory and retry.`);
  return sorted(named);
}
