/**
 * `/unit_api/bioreactor/experiments/<exp>`: read and set this unit's bioreactor variables (the
 * volume settings on the UI cards). A set is stored in the persistent `bioreactor` cache, published
 * retained at QoS 2 on `pioreactor/<unit>/<exp>/bioreactor/<var>` and logged under the experiment.
 */
import { Router } from "express";
import { BIOREACTOR_VARIABLES, type BioreactorVariable, bioreactorTopic, encodeBioreactorValue } from "../../../automations/bioreactor-state";
import { formatWithUnits } from "../../../jobs/background-job";
import { withinSeconds } from "../api/workers";
import { isBioreactorVariable, unitBioreactorState } from "../bioreactor";
import type { WebContext } from "../deps";
import { badRequest } from "../http-errors";
import { param } from "../http-util";
import { decodeBody } from "../request-body";

const UNITS: Partial<Record<BioreactorVariable, string>> = {
  current_volume_ml: "mL",
  efflux_tube_volume_ml: "mL",
  cumulative_media_added_ml: "mL",
  cumulative_alt_media_added_ml: "mL",
  cumulative_waste_removed_ml: "mL",
};

export function unitBioreactorRoutes(ctx: WebContext): Router {
  const r = Router();

  r.get("/bioreactor/experiments/:experiment", async (req, res) => {
    const experiment = param(req.params.experiment);
    const state = await unitBioreactorState(ctx);
    res.json({ values: Object.fromEntries(BIOREACTOR_VARIABLES.map((v) => [v, state.get(experiment, v)])) });
  });

  r.patch("/bioreactor/experiments/:experiment", async (req, res) => {
    const experiment = param(req.params.experiment);
    const { values } = decodeBody<{ values: Record<string, unknown> }>(req, {
      fields: { values: { type: "object", required: true } },
      forbidUnknown: true,
    });
    if (Object.keys(values).length === 0) {
      throw badRequest("Missing bioreactor values.", {
        cause: "Expected a JSON object under `values` with one or more bioreactor settings.",
        remediation: 'Submit a payload like {"values": {"current_volume_ml": 12.5}}.',
      });
    }
    const state = await unitBioreactorState(ctx);
    // Every value is checked before any is stored, so a bad one leaves all of them as they were.
    const updates: Array<[BioreactorVariable, number]> = Object.entries(values).map(([name, raw]) => {
      if (!isBioreactorVariable(name)) {
        throw badRequest(`Unknown bioreactor variable \`${name}\`.`, { remediation: `Use one of: ${BIOREACTOR_VARIABLES.join(", ")}.` });
      }
      try {
        return [name, state.validate(name, raw)];
      } catch (e) {
        throw badRequest((e as Error).message);
      }
    });
    const log = ctx.serverLog.child("bioreactor", experiment);
    for (const [name, value] of updates) {
      const previous = state.get(experiment, name);
      state.set(experiment, name, value);
      await withinSeconds(10, ctx.mqtt.publish(bioreactorTopic(ctx.unitName, experiment, name), encodeBioreactorValue(value), { qos: 2, retain: true }));
      log.info(`Updated ${name} from ${formatWithUnits(previous, UNITS[name])} to ${formatWithUnits(value, UNITS[name])}.`);
    }
    res.json({ status: "success" });
  });

  return r;
}
