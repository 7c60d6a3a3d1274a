/**
 * The decoded shape of an experiment profile (version "1.0"), mirroring
 * `schemas/experiment_profile.schema.json`; `test/profiles/schema-types.test.ts` keeps the two in
 * sync. Every default is filled in, as the original's decoder does, so the scheduler never has
 * to guess.
 *
 * Numbers: fields the original declares as float (`t`, `hours_elapsed`, `every`, …) are plain JS
 * numbers even when written `1`. Free-form values (`inputs`, `options`, `config_overrides`) keep
 * YAML ints as `PyInt`, so `400` and `400.0` print as Python would (`formatPyScalar`, `pyRepr`).
 */
import type { PyInt } from "../util/python-format";

/** Any value a YAML document can hold after PyYAML-style resolution. */
export type ProfileValue = null | boolean | number | PyInt | string | ProfileValue[] | { [key: string]: ProfileValue };

/** Hours as a number, or a literal such as `"30s"`, `"15m"`, `"1.5h"`, `"2d"`. */
export type TimeValue = number | string;

/** A bool, or an expression string (with or without `${{ }}`). */
export type BoolExpression = boolean | string;

export const LOG_LEVELS = ["DEBUG", "debug", "WARNING", "warning", "INFO", "info", "NOTICE", "notice", "ERROR", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

interface ActionBase {
  /** Start time relative to the profile start (or to the enclosing `when`/`repeat` cycle). */
  t: TimeValue | null;
  /** Legacy start time in hours. Exactly one of `t`/`hours_elapsed` is set in a valid profile. */
  hours_elapsed: number | null;
  if: BoolExpression;
}

export interface LogAction extends ActionBase {
  type: "log";
  options: { message: string; level: LogLevel };
}

export interface StartAction extends ActionBase {
  type: "start";
  options: Record<string, ProfileValue>;
  args: string[];
  config_overrides: Record<string, ProfileValue>;
}

export interface UpdateAction extends ActionBase {
  type: "update";
  options: Record<string, ProfileValue>;
}

export interface PauseAction extends ActionBase {
  type: "pause";
}

export interface ResumeAction extends ActionBase {
  type: "resume";
}

export interface StopAction extends ActionBase {
  type: "stop";
}

export interface WhenAction extends ActionBase {
  type: "when";
  /** Legacy; `wait_until` wins when both are non-empty. */
  condition: string;
  wait_until: string;
  actions: Action[];
}

export interface RepeatAction extends ActionBase {
  type: "repeat";
  /** Legacy; wins over `every`. */
  repeat_every_hours: number | null;
  every: TimeValue | null;
  while: BoolExpression;
  /** Legacy; wins over `max_time`. */
  max_hours: number | null;
  max_time: TimeValue | null;
  actions: BasicAction[];
}

export type BasicAction = LogAction | StartAction | UpdateAction | PauseAction | ResumeAction | StopAction;
export type Action = BasicAction | WhenAction | RepeatAction;
export type ActionType = Action["type"];

export interface Job {
  actions: Action[];
  description: string | null;
}

export interface PioreactorBlock {
  jobs: Record<string, Job>;
  label: string | null;
}

export interface Plugin {
  name: string;
  /** `1.2.3`, `==1.2.3`, `>=1.2.3` or `<=1.2.3`. */
  version: string;
}

export interface Profile {
  version: "1.0";
  experiment_profile_name: string;
  metadata: { author: string | null; description: string | null };
  plugins: Plugin[];
  /** Values usable by name in expressions. */
  inputs: Record<string, ProfileValue>;
  common: { jobs: Record<string, Job> };
  pioreactors: Record<string, PioreactorBlock>;
}

/**
 * A profile as a person writes it (optional fields optional), e.g. for building profiles in code
 * or tests. Validate it with the schema before use.
 */
export type ProfileDocument = {
  version: "1.0";
  experiment_profile_name: string;
  metadata?: { author?: string | null; description?: string | null };
  plugins?: Plugin[];
  inputs?: Record<string, ProfileValue>;
  common?: { jobs?: Record<string, JobDocument> };
  pioreactors?: Record<string, { jobs?: Record<string, JobDocument>; label?: string | null }>;
};

type Loose<A extends Action> = Partial<Omit<A, "type" | "actions">> & { type: A["type"] };
export type ActionDocument =
  | (Loose<LogAction> & { options: { message: string; level?: LogLevel } })
  | Loose<StartAction>
  | Loose<UpdateAction>
  | Loose<PauseAction>
  | Loose<ResumeAction>
  | Loose<StopAction>
  | (Loose<WhenAction> & { actions?: ActionDocument[] })
  | (Loose<RepeatAction> & { actions?: BasicActionDocument[] });
export type BasicActionDocument = Exclude<ActionDocument, { type: "when" | "repeat" }>;
export interface JobDocument {
  actions: ActionDocument[];
  description?: string | null;
}
