/**
 * Evaluating profile expressions with Python value semantics (profiles spec §5.4–§5.6).
 *
 * Deliberate choices, flagged because they decide observable behaviour:
 * - Every operand is evaluated, left to right, before its operator applies, including both sides
 *   of `and`/`or`. The original's bottom-up parser does the same, so a failing MQTT lookup on the
 *   right of an `or` fails the whole expression there too; we keep that rather than short-circuit.
 * - Trees come from Python's precedence by default (see parser.ts); the original's model can be
 *   chosen with `precedence: "original"` for bit-for-bit replays.
 */
import type { Expr } from "./ast";
import { findEmbeddedExpressions, isBracketedExpression, stripExpressionBrackets } from "./brackets";
import { decodeJsonPayload, JsonPayloadError } from "./json-payload";
import type { ParseMemo } from "./parse-memo";
import { type PrecedenceModel, parseExpression } from "./parser";
import { convertString } from "./python-float";
import {
  ExpressionError,
  isPyDict,
  type PyValue,
  pyAdd,
  pyCompare,
  pyDiv,
  pyEquals,
  pyMul,
  pyNeg,
  pyPos,
  pyPow,
  pyStr,
  pySub,
  pyTruthy,
  pyTypeName,
} from "./values";

/**
 * Reads the latest value of `pioreactor/<unit>/<experiment>/<job>/<setting>` (retained or live).
 * The adapter resolves the unit's experiment, checks it is active (throwing an `ExpressionError`
 * such as the original's `NameError` text when not) and waits for the first message.
 * Return the payload text; `null`/`undefined` when nothing arrived (a cleared retained topic is
 * "nothing"). An empty string is a real, empty message.
 */
export interface LookupPort {
  get(unit: string, job: string, setting: string): Promise<string | null | undefined>;
  /** The experiment the unit's topics were read under, for the "does not exist" message. Defaults to `env.experiment`. */
  experimentOf?(unit: string): Promise<string> | string;
}

export interface EvaluationContext {
  /** `inputs`, overlaid with `unit`, `experiment`, `job_name`, and at run time `hours_elapsed`, `action_count`. */
  env: Readonly<Record<string, PyValue>>;
  lookups?: LookupPort;
  /** Uniform in [0, 1); injected so tests and replays are deterministic. */
  random?: () => number;
  precedence?: PrecedenceModel;
  /** Parses kept across evaluations (one per run); without it every evaluation parses afresh. */
  memo?: ParseMemo;
}

function parseIn(ctx: EvaluationContext, text: string, model: PrecedenceModel) {
  return ctx.memo ? ctx.memo.parse(text, model) : parseExpression(text, model);
}

const FUNCTIONS_FROM_ENV = new Set(["unit", "experiment", "job_name", "hours_elapsed"]);

function envValue(ctx: EvaluationContext, key: string): PyValue {
  if (!Object.hasOwn(ctx.env, key)) throw new ExpressionError("KeyError", key);
  return ctx.env[key];
}

async function evalNode(e: Expr, ctx: EvaluationContext): Promise<PyValue> {
  switch (e.kind) {
    case "number":
      return e.value; // literals are always Python floats
    case "name": {
      const lower = e.name.toLowerCase();
      if (lower === "true") return true;
      if (lower === "false") return false;
      if (Object.hasOwn(ctx.env, e.name)) return ctx.env[e.name];
      return e.name; // a bare word is a string: `::stirring:$state == ready`
    }
    case "function":
      if (e.name === "random") return (ctx.random ?? Math.random)();
      if (FUNCTIONS_FROM_ENV.has(e.name)) return envValue(ctx, e.name);
      throw new ExpressionError("ValueError", `${e.name}() is not a valid function in profile expressions.`);
    case "lookup":
      return lookup(e.text, e.common, ctx);
    case "unary": {
      const v = await evalNode(e.operand, ctx);
      if (e.op === "not") return !pyTruthy(v);
      return e.op === "-" ? pyNeg(v) : pyPos(v);
    }
    case "binary": {
      const a = await evalNode(e.left, ctx);
      const b = await evalNode(e.right, ctx);
      switch (e.op) {
        case "and":
          return pyTruthy(a) ? b : a;
        case "or":
          return pyTruthy(a) ? a : b;
        case "+":
          return pyAdd(a, b);
        case "-":
          return pySub(a, b);
        case "*":
          return pyMul(a, b);
        case "/":
          return pyDiv(a, b);
        case "**":
          return pyPow(a, b);
        case "==":
          return pyEquals(a, b);
        default:
          return pyCompare(e.op, a, b);
      }
    }
    case "chain": {
      const values: PyValue[] = [];
      for (const operand of e.operands) values.push(await evalNode(operand, ctx));
      return e.ops.every((op, i) =>
        op === "==" ? pyEquals(values[i], values[i + 1]) : pyCompare(op, values[i], values[i + 1]),
      );
    }
  }
}

/** An MQTT lookup, step by step as profiles spec §5.6 describes. */
async function lookup(text: string, common: boolean, ctx: EvaluationContext): Promise<PyValue> {
  const dataString = common ? text.replace("::", `${pyStr(envValue(ctx, "unit"))}:`) : text;
  const parts = dataString.split(":");
  if (parts.length > 3) throw new ExpressionError("ValueError", "too many values to unpack (expected 3)");
  let [unit, job] = parts;
  const settingKeys = parts[2];
  const [setting, ...keys] = settingKeys.split(".");
  if (unit === "unit()") unit = pyStr(envValue(ctx, "unit"));
  if (job === "job_name()") job = pyStr(envValue(ctx, "job_name"));
  if (!ctx.lookups) throw new Error("This expression reads MQTT, but no LookupPort was provided.");

  const payload = await ctx.lookups.get(unit, job, setting);
  if (payload === null || payload === undefined) {
    const experiment = ctx.lookups.experimentOf
      ? await ctx.lookups.experimentOf(unit)
      : pyStr(ctx.env.experiment ?? null);
    throw new ExpressionError("MQTTValueError", `${unit}:${job}:${settingKeys} does not exist for experiment \`${experiment}\``);
  }

  let value: PyValue;
  try {
    value = decodeJsonPayload(payload);
  } catch (err) {
    // Not JSON: the raw text is the value, and any nested keys are ignored (as in the original).
    if (err instanceof JsonPayloadError) return convertString(payload);
    throw err;
  }
  for (const key of keys) {
    if (!isPyDict(value)) {
      throw new ExpressionError(
        "TypeError",
        `Expression lookup \`${dataString}\` attempted nested key access \`${key}\` on a non-mapping value of type \`${pyTypeName(value)}\`.`,
      );
    }
    if (!Object.hasOwn(value, key)) {
      throw new ExpressionError(
        "KeyError",
        `Expression lookup \`${dataString}\` referenced missing nested key \`${key}\`. Available keys: [${Object.keys(value).join(", ")}]`,
      );
    }
    value = value[key];
  }
  return convertString(value);
}

/**
 * Evaluates one expression (without `${{ }}`). A lexical error throws the original's LexError
 * text. A grammar error gives `null`: the original's parser returns None there (only reachable
 * through the `a::b:c` validation gap, which our validator reports).
 */
export async function evaluateExpression(text: string, ctx: EvaluationContext): Promise<PyValue> {
  const parsed = parseIn(ctx, text, ctx.precedence ?? "python");
  if (!parsed.ok) {
    if (parsed.error.lexical) throw new ExpressionError("LexError", parsed.error.lexMessage ?? parsed.error.detail);
    // Python-mode rejects nothing the original accepts, but fall back if it ever does.
    const fallback = ctx.precedence === "original" ? parsed : parseIn(ctx, text, "original");
    if (!fallback.ok) return null;
    return evalNode(fallback.expr, ctx);
  }
  return evalNode(parsed.expr, ctx);
}

/** `if`, `while`, `condition`, `wait_until`: a bool as is; a string with or without `${{ }}`, then truthiness. */
export async function evaluateBoolExpression(value: boolean | string, ctx: EvaluationContext): Promise<boolean> {
  if (typeof value === "boolean") return value;
  const text = isBracketedExpression(value) ? stripExpressionBrackets(value) : value;
  const result = await evaluateExpression(text, ctx);
  if (result === null) {
    // The original raises SyntaxError(<expression>) when the parser yields no value.
    if (!parseIn(ctx, text, "original").ok) throw new ExpressionError("SyntaxError", text);
  }
  return pyTruthy(result);
}

/** `start`/`update` options and `config_overrides`: only strictly bracketed strings are evaluated. */
export async function evaluateOptions(
  options: Readonly<Record<string, PyValue>>,
  ctx: EvaluationContext,
): Promise<Record<string, PyValue>> {
  const out: Record<string, PyValue> = {};
  for (const [key, value] of Object.entries(options)) {
    out[key] = isBracketedExpression(value) ? await evaluateExpression(stripExpressionBrackets(value), ctx) : value;
  }
  return out;
}

/** A log message with every `${{ … }}` replaced by Python `str()` of its value. */
export async function renderLogMessage(message: string, ctx: EvaluationContext): Promise<string> {
  const found = ctx.memo ? ctx.memo.embedded(message) : findEmbeddedExpressions(message);
  const values: string[] = [];
  for (const f of found) values.push(pyStr(await evaluateExpression(f.expression, ctx)));
  let out = "";
  let last = 0;
  found.forEach((f, i) => {
    out += message.slice(last, f.start) + values[i];
    last = f.end;
  });
  return out + message.slice(last);
}
