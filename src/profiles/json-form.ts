/**
 * The JSON form of a decoded profile that `GET /api/experiment_profiles` returns (profiles spec
 * §2.5): every default present, fields in the original's order, non-finite floats as `null`
 * (msgspec's encoding). Ints stay `PyInt`; serialise with `pythonJsonDumps` to keep `1` vs `1.0`.
 */
import { PyInt } from "../util/python-format";
import type { Action, Job, Profile, ProfileValue } from "./types";

type Json = null | boolean | number | PyInt | string | Json[] | { [key: string]: Json };

function value(v: ProfileValue): Json {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (v === null || typeof v !== "object" || v instanceof PyInt) return v;
  if (Array.isArray(v)) return v.map(value);
  return map(v);
}

function map(m: Record<string, ProfileValue>): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(m)) out[k] = value(v);
  return out;
}

function action(a: Action): { [key: string]: Json } {
  if (a.type === "log") {
    return {
      type: "log",
      options: { message: a.options.message, level: a.options.level },
      if: a.if,
      hours_elapsed: value(a.hours_elapsed),
      t: value(a.t),
    };
  }
  const head = { type: a.type, hours_elapsed: value(a.hours_elapsed), t: value(a.t), if: a.if };
  switch (a.type) {
    case "start":
      return { ...head, options: map(a.options), args: [...a.args], config_overrides: map(a.config_overrides) };
    case "update":
      return { ...head, options: map(a.options) };
    case "when":
      return { ...head, condition: a.condition, wait_until: a.wait_until, actions: a.actions.map(action) };
    case "repeat":
      return {
        ...head,
        repeat_every_hours: value(a.repeat_every_hours),
        every: value(a.every),
        while: a.while,
        max_hours: value(a.max_hours),
        max_time: value(a.max_time),
        actions: a.actions.map(action),
      };
    default:
      return head;
  }
}

function jobs(js: Record<string, Job>): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [name, job] of Object.entries(js)) out[name] = { actions: job.actions.map(action), description: job.description };
  return out;
}

export function profileToJsonForm(p: Profile): { [key: string]: Json } {
  const pioreactors: { [key: string]: Json } = {};
  for (const [unit, block] of Object.entries(p.pioreactors)) pioreactors[unit] = { jobs: jobs(block.jobs), label: block.label };
  return {
    version: p.version,
    experiment_profile_name: p.experiment_profile_name,
    metadata: { author: p.metadata.author, description: p.metadata.description },
    plugins: p.plugins.map((x) => ({ name: x.name, version: x.version })),
    common: { jobs: jobs(p.common.jobs) },
    pioreactors,
    inputs: map(p.inputs),
  };
}
