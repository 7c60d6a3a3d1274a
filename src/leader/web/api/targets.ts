/**
 * Which units a leader route fans out to, as the original resolves a path's `<unit>`: `$broadcast`
 * means every unit (or every worker); anything else must be registered, else 400.
 */
import { UNIVERSAL_IDENTIFIER } from "../../../pubsub/topics";
import { allUnits, allWorkers } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest } from "../http-errors";

export async function targetUnits(ctx: WebContext, unit: string): Promise<string[]> {
  const units = await allUnits(ctx.leaderDb(), ctx.config());
  if (unit === UNIVERSAL_IDENTIFIER) return units;
  if (units.includes(unit)) return [unit];
  throw badRequest(`Unknown Pioreactor unit: ${unit}`, {
    cause: "The requested unit is not registered in this cluster.",
    remediation: "Choose $broadcast, the leader, or a Pioreactor unit from inventory.",
  });
}

export async function targetWorkers(ctx: WebContext, unit: string): Promise<string[]> {
  const workers = await allWorkers(ctx.leaderDb());
  if (unit === UNIVERSAL_IDENTIFIER) return workers;
  if (workers.includes(unit)) return [unit];
  throw badRequest(`Unknown Pioreactor worker: ${unit}`, {
    cause: "The requested worker is not registered in this cluster.",
    remediation: "Choose $broadcast or a worker from inventory.",
  });
}
