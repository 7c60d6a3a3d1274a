/**
 * Profile validation: YAML → structure (schema) → the original's semantic rules → our additions.
 *
 * Unlike the original, which stops at the first decode error and never says where, every problem
 * is reported, each with line and column. The semantic rules run even when the structure has
 * errors (on whatever parts are usable), so one pass shows everything.
 *
 * Order of diagnostics: YAML problems, then structural ones (by position), then the original's
 * rules in its order (profiles spec §4.1), with a precedence warning right after the expression
 * it concerns, then unknown-unit warnings.
 */
import { PyInt } from "../util/python-format";
import {
  ADDED_CODES,
  type Diagnostic,
  didYouMean,
  formatPath,
  hasErrors,
  type PathSegment,
  SourceMap,
} from "./diagnostics";
import { checkExpressionSyntax, findEmbeddedExpressions, isBracketedExpression } from "./expressions";
import { loadYaml, type YamlMapping, type YamlValue } from "./load";
import { parsePluginVersionConstraint } from "./plugin-version";
import { ACTION_TYPES, ProfileSchemaValidator } from "./schema";
import { checkTimeField } from "./time";
import type { Action, BasicAction, Job, LogLevel, PioreactorBlock, Profile, ProfileValue } from "./types";

export interface ValidateOptions {
  /** Used by callers to format diagnostics; kept here so results can be printed without context. */
  filename?: string;
  /** Units in the cluster inventory; when given, unknown units in `pioreactors` get a warning. */
  knownUnits?: readonly string[];
  /** Reuse a compiled schema validator across calls (compiling takes tens of milliseconds). */
  schemaValidator?: ProfileSchemaValidator;
}

export interface ProfileValidation {
  /** No diagnostic of severity `error`. */
  ok: boolean;
  /** Present when the document decodes as the original would (structure valid), even if a semantic rule failed. */
  profile?: Profile;
  diagnostics: Diagnostic[];
}

function isMapping(v: YamlValue | undefined): v is YamlMapping {
  return v !== null && v !== undefined && typeof v === "object" && !Array.isArray(v) && !(v instanceof PyInt);
}

function isTimeLike(v: YamlValue | undefined): v is number | PyInt | string {
  return typeof v === "number" || typeof v === "string" || v instanceof PyInt;
}

function isNumberLike(v: YamlValue | undefined): v is number | PyInt {
  return typeof v === "number" || v instanceof PyInt;
}

const present = (v: YamlValue | undefined) => v !== null && v !== undefined;
const isKnownType = (t: YamlValue | undefined): t is Action["type"] =>
  typeof t === "string" && (ACTION_TYPES as readonly string[]).includes(t);

/** The original's rules (validate.py), over a decoded-or-not document. */
class SemanticChecks {
  readonly out: Diagnostic[] = [];

  constructor(private readonly sourceMap: SourceMap) {}

  private push(severity: Diagnostic["severity"], code: string, message: string, path: readonly PathSegment[], hint?: string) {
    const pos = this.sourceMap.locate(path);
    this.out.push({
      code,
      severity,
      message,
      path: formatPath(path),
      ...(hint ? { hint } : {}),
      ...(pos ? { line: pos.line, column: pos.column } : {}),
    });
  }

  run(doc: YamlMapping, knownUnits?: readonly string[]): void {
    this.plugins(doc.plugins);
    const jobLists: Array<[PathSegment[], YamlValue[]]> = [];
    for (const [jobPath, job] of this.jobs(doc)) {
      const actions = isMapping(job) ? job.actions : undefined;
      if (!Array.isArray(actions)) continue;
      jobLists.push([jobPath, actions]);
      actions.forEach((a, i) => {
        this.actionTree(a, [...jobPath, "actions", i]);
      });
    }
    for (const [jobPath, actions] of jobLists) this.ordering(jobPath, actions);
    if (knownUnits) this.units(doc, knownUnits);
  }

  private *jobs(doc: YamlMapping): Generator<[PathSegment[], YamlValue]> {
    const commonJobs = isMapping(doc.common) ? doc.common.jobs : undefined;
    if (isMapping(commonJobs)) for (const [name, job] of Object.entries(commonJobs)) yield [["common", "jobs", name], job];
    if (!isMapping(doc.pioreactors)) return;
    for (const [unit, block] of Object.entries(doc.pioreactors)) {
      const jobs = isMapping(block) ? block.jobs : undefined;
      if (isMapping(jobs)) for (const [name, job] of Object.entries(jobs)) yield [["pioreactors", unit, "jobs", name], job];
    }
  }

  private plugins(plugins: YamlValue | undefined): void {
    if (!Array.isArray(plugins)) return;
    plugins.forEach((p, i) => {
      if (!isMapping(p) || typeof p.version !== "string") return;
      if (!parsePluginVersionConstraint(p.version)) {
        this.push(
          "error",
          "plugin.version.invalid",
          "Expected a version or one of `==`, `>=`, or `<=` followed by a valid version.",
          ["plugins", i, "version"],
          "For example `1.2.3`, `>=1.2.3` or `<=2.0`.",
        );
      }
    });
  }

  /** Pre-order: each action's checks, then its nested actions'. */
  private actionTree(action: YamlValue, path: PathSegment[]): void {
    if (!isMapping(action) || !isKnownType(action.type)) return;
    this.structure(action, path);
    this.times(action, path);
    this.expressions(action, path);
    if ((action.type === "when" || action.type === "repeat") && Array.isArray(action.actions)) {
      action.actions.forEach((child, i) => {
        this.actionTree(child, [...path, "actions", i]);
      });
    }
  }

  private structure(a: YamlMapping, path: PathSegment[]): void {
    const hasHours = present(a.hours_elapsed);
    const hasT = present(a.t);
    if (hasHours && hasT) {
      this.push("error", "action.time.conflict", "Action cannot define both `hours_elapsed` and `t`.", path, "Choose one time field per action.");
    } else if (!hasHours && !hasT) {
      this.push(
        "error",
        "action.time.missing",
        "Action must define exactly one of `hours_elapsed` or `t`.",
        path,
        "Add `t`, e.g. `t: 0s` to run at the start.",
      );
    }
    if (a.type === "when") {
      const hasCondition = typeof a.condition === "string" ? a.condition !== "" : present(a.condition);
      const hasWaitUntil = typeof a.wait_until === "string" ? a.wait_until !== "" : present(a.wait_until);
      if (!hasCondition && !hasWaitUntil) {
        this.push("error", "when.condition.missing", "`when` must define `condition` or `wait_until`.", path);
      } else if (hasCondition && hasWaitUntil) {
        this.push("warning", "when.condition.ambiguous", "`when` defines both `condition` and `wait_until`; `wait_until` will be used.", path);
      }
    }
    if (a.type === "repeat") {
      const hasHours = present(a.repeat_every_hours);
      const hasEvery = present(a.every);
      if (!hasHours && !hasEvery) {
        this.push("error", "repeat.every.missing", "`repeat` must define `repeat_every_hours` or `every`.", path);
      } else if (hasHours && hasEvery) {
        this.push(
          "warning",
          "repeat.every.ambiguous",
          "`repeat` defines both `repeat_every_hours` and `every`; `repeat_every_hours` will be used.",
          path,
        );
      }
    }
  }

  /** One time field; returns seconds when valid. Wrongly typed values are left to the schema check. */
  private timeField(path: PathSegment[], field: string, value: YamlValue | undefined, mustBePositive: boolean, numberOnly: boolean) {
    if (!(numberOnly ? isNumberLike(value) : isTimeLike(value))) return undefined;
    const r = checkTimeField(field, value as number | PyInt | string, mustBePositive);
    if (r.ok) return r.seconds;
    this.push("error", r.code, r.message, [...path, field]);
    return undefined;
  }

  private times(a: YamlMapping, path: PathSegment[]): void {
    this.timeField(path, "hours_elapsed", a.hours_elapsed, false, true);
    this.timeField(path, "t", a.t, false, false);
    if (a.type !== "repeat") return;
    const useHours = present(a.repeat_every_hours);
    const cycle = useHours
      ? this.timeField(path, "repeat_every_hours", a.repeat_every_hours, true, true)
      : this.timeField(path, "every", a.every, true, false);
    this.timeField(path, "max_hours", a.max_hours, true, true);
    this.timeField(path, "max_time", a.max_time, true, false);
    if (cycle === undefined || !Array.isArray(a.actions)) return;
    a.actions.forEach((child, i) => {
      if (!isMapping(child)) return;
      const childPath: PathSegment[] = [...path, "actions", i];
      const field = present(child.t) ? "t" : "hours_elapsed";
      const value = child[field];
      if (!present(value)) return;
      // Reported again by the child's own pass, as the original does.
      const seconds = this.timeField(childPath, field, value, false, field === "hours_elapsed");
      if (seconds !== undefined && seconds > cycle) {
        this.push(
          "warning",
          "repeat.unreachable_action",
          "Action start time exceeds repeat cycle and will never run.",
          [...childPath, field],
          "Move the action earlier or increase the repeat interval.",
        );
      }
    });
  }

  private expression(value: YamlValue | undefined, path: PathSegment[]): void {
    if (typeof value !== "string" && typeof value !== "boolean") return;
    const check = checkExpressionSyntax(value);
    if (check.error) this.push("error", "expression.syntax", check.error.message, path, check.error.hint);
    for (const f of check.unknownFunctions ?? []) this.push("error", ADDED_CODES.unknownFunction, f.message, path, f.hint);
    if (check.precedence) this.push("warning", ADDED_CODES.precedence, check.precedence.message, path, check.precedence.hint);
  }

  private expressions(a: YamlMapping, path: PathSegment[]): void {
    this.expression(a.if, [...path, "if"]);
    if (a.type === "when") {
      if (typeof a.condition === "string" && a.condition) this.expression(a.condition, [...path, "condition"]);
      if (typeof a.wait_until === "string" && a.wait_until) this.expression(a.wait_until, [...path, "wait_until"]);
    }
    if (a.type === "repeat") this.expression(a.while, [...path, "while"]);
    if ((a.type === "start" || a.type === "update") && isMapping(a.options)) {
      for (const [key, v] of Object.entries(a.options)) {
        if (isBracketedExpression(v)) this.expression(v, [...path, "options", key]);
      }
    }
    if (a.type === "start" && isMapping(a.config_overrides)) {
      for (const [key, v] of Object.entries(a.config_overrides)) {
        if (isBracketedExpression(v)) this.expression(v, [...path, "config_overrides", key]);
      }
    }
    if (a.type === "log" && isMapping(a.options) && typeof a.options.message === "string") {
      for (const found of findEmbeddedExpressions(a.options.message)) {
        this.expression(found.expression, [...path, "options", "message"]);
      }
    }
  }

  /** Top-level list order only, never time; a `stop` resets "started". */
  private ordering(jobPath: PathSegment[], actions: YamlValue[]): void {
    let started = false;
    actions.forEach((a, i) => {
      if (!isMapping(a)) return;
      if (a.type === "start") started = true;
      else if (a.type === "stop" || a.type === "pause" || a.type === "resume" || a.type === "update") {
        if (!started) {
          this.push(
            "warning",
            "job.ordering.before_start",
            `\`${a.type}\` occurs before any \`start\` action for this job.`,
            [...jobPath, "actions", i],
          );
        }
        if (a.type === "stop") started = false;
      }
    });
  }

  private units(doc: YamlMapping, knownUnits: readonly string[]): void {
    if (!isMapping(doc.pioreactors)) return;
    for (const unit of Object.keys(doc.pioreactors)) {
      if (knownUnits.includes(unit)) continue;
      const suggestion = didYouMean(unit, knownUnits);
      this.push(
        "warning",
        ADDED_CODES.unknownUnit,
        `Unit \`${unit}\` is not in the cluster inventory; its actions will be skipped when the profile runs.`,
        ["pioreactors", unit],
        suggestion ?? (knownUnits.length ? `Known units: ${knownUnits.join(", ")}.` : "No units are in the inventory."),
      );
    }
  }
}

// ---------- decoding (defaults filled in, as the original's structs do) ----------

const asHours = (v: YamlValue | undefined): number | null => (v instanceof PyInt ? v.value : typeof v === "number" ? v : null);
const asTime = (v: YamlValue | undefined): number | string | null => (typeof v === "string" ? v : asHours(v));
const asBoolExpr = (v: YamlValue | undefined): boolean | string => (typeof v === "boolean" || typeof v === "string" ? v : true);
const asMap = (v: YamlValue | undefined): Record<string, ProfileValue> => (isMapping(v) ? { ...v } : {});

function decodeAction(a: YamlMapping): Action {
  const base = { t: asTime(a.t), hours_elapsed: asHours(a.hours_elapsed), if: asBoolExpr(a.if) };
  const actions = (): YamlMapping[] => (Array.isArray(a.actions) ? a.actions.filter(isMapping) : []);
  switch (a.type) {
    case "log": {
      const options = isMapping(a.options) ? a.options : {};
      return {
        type: "log",
        options: { message: String(options.message ?? ""), level: (options.level ?? "NOTICE") as LogLevel },
        ...base,
      };
    }
    case "start":
      return {
        type: "start",
        ...base,
        options: asMap(a.options),
        args: Array.isArray(a.args) ? a.args.map(String) : [],
        config_overrides: asMap(a.config_overrides),
      };
    case "update":
      return { type: "update", ...base, options: asMap(a.options) };
    case "pause":
    case "resume":
    case "stop":
      return { type: a.type, ...base };
    case "when":
      return {
        type: "when",
        ...base,
        condition: typeof a.condition === "string" ? a.condition : "",
        wait_until: typeof a.wait_until === "string" ? a.wait_until : "",
        actions: actions().map(decodeAction),
      };
    default:
      return {
        type: "repeat",
        ...base,
        repeat_every_hours: asHours(a.repeat_every_hours),
        every: asTime(a.every),
        while: asBoolExpr(a.while),
        max_hours: asHours(a.max_hours),
        max_time: asTime(a.max_time),
        actions: actions().map(decodeAction) as BasicAction[],
      };
  }
}

function decodeJobs(v: YamlValue | undefined): Record<string, Job> {
  const out: Record<string, Job> = {};
  if (!isMapping(v)) return out;
  for (const [name, job] of Object.entries(v)) {
    if (!isMapping(job)) continue;
    out[name] = {
      actions: Array.isArray(job.actions) ? job.actions.filter(isMapping).map(decodeAction) : [],
      description: typeof job.description === "string" ? job.description : null,
    };
  }
  return out;
}

/** Builds the typed profile from a document that passed the schema. */
export function decodeProfile(doc: YamlMapping): Profile {
  const metadata = isMapping(doc.metadata) ? doc.metadata : {};
  const pioreactors: Record<string, PioreactorBlock> = {};
  if (isMapping(doc.pioreactors)) {
    for (const [unit, block] of Object.entries(doc.pioreactors)) {
      if (!isMapping(block)) continue;
      pioreactors[unit] = { jobs: decodeJobs(block.jobs), label: typeof block.label === "string" ? block.label : null };
    }
  }
  return {
    version: "1.0",
    experiment_profile_name: String(doc.experiment_profile_name),
    metadata: {
      author: typeof metadata.author === "string" ? metadata.author : null,
      description: typeof metadata.description === "string" ? metadata.description : null,
    },
    plugins: Array.isArray(doc.plugins)
      ? doc.plugins.filter(isMapping).map((p) => ({ name: String(p.name), version: String(p.version) }))
      : [],
    inputs: asMap(doc.inputs),
    common: { jobs: decodeJobs(isMapping(doc.common) ? doc.common.jobs : undefined) },
    pioreactors,
  };
}

/** Parse, check structure and decode; no semantic rules. What the original's `decode` step does. */
export function loadProfileText(
  text: string,
  opts: Pick<ValidateOptions, "schemaValidator"> = {},
): { profile?: Profile; document?: YamlValue; sourceMap: SourceMap; diagnostics: Diagnostic[] } {
  const loaded = loadYaml(text);
  const diagnostics = [...loaded.diagnostics];
  if (loaded.value === undefined) return { sourceMap: loaded.sourceMap, diagnostics };
  const validator = opts.schemaValidator ?? new ProfileSchemaValidator();
  diagnostics.push(...validator.check(loaded.value, loaded.sourceMap));
  const decodable = !hasErrors(diagnostics) && isMapping(loaded.value);
  return {
    ...(decodable ? { profile: decodeProfile(loaded.value as YamlMapping) } : {}),
    document: loaded.value,
    sourceMap: loaded.sourceMap,
    diagnostics,
  };
}

/**
 * The original reports an invalid time of a `repeat` child twice (once from the repeat, once
 * from the child); one copy is enough. Only exact repeats of time diagnostics are dropped (two
 * bad `${{ }}` in one log message legitimately share a path and message).
 */
function withoutRepeats(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    if (!d.code.startsWith("time.")) return true;
    const key = `${d.severity}|${d.code}|${d.path}|${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Everything: YAML, structure, the original's semantic rules, precedence warnings, unknown units. */
export function validateProfileText(text: string, opts: ValidateOptions = {}): ProfileValidation {
  const loaded = loadProfileText(text, opts);
  const diagnostics = [...loaded.diagnostics];
  if (isMapping(loaded.document)) {
    const semantic = new SemanticChecks(loaded.sourceMap);
    semantic.run(loaded.document, opts.knownUnits);
    diagnostics.push(...withoutRepeats(semantic.out));
  }
  return {
    ok: !hasErrors(diagnostics),
    ...(loaded.profile ? { profile: loaded.profile } : {}),
    diagnostics,
  };
}

/**
 * The original's `validate_profile` on an already-decoded profile (for profiles built in code).
 * No positions are available, so diagnostics carry paths only.
 */
export function validateProfile(profile: Profile, opts: Pick<ValidateOptions, "knownUnits"> = {}): Diagnostic[] {
  const semantic = new SemanticChecks(new SourceMap());
  semantic.run(toYamlValue(profile) as YamlMapping, opts.knownUnits);
  return semantic.out;
}

function toYamlValue(v: unknown): YamlValue {
  if (v === null || v === undefined) return null;
  if (v instanceof PyInt || typeof v !== "object") return v as YamlValue;
  if (Array.isArray(v)) return v.map(toYamlValue);
  const out: YamlMapping = {};
  for (const [k, x] of Object.entries(v)) out[k] = toYamlValue(x);
  return out;
}
