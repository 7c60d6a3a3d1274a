/**
 * Structural validation against `schemas/experiment_profile.schema.json` (ajv, JSON Schema
 * 2020-12), with each ajv error turned into one diagnostic in the original's decode-error words
 * (msgspec: ``Object contains unknown field `x` ``, ``Expected `str`, got `float` ``, …), placed
 * on the YAML node, with "did you mean" hints.
 *
 * Noise control: the action unions use ajv's `discriminator`, so only the branch named by `type`
 * is checked; errors under a path that already has a type error are dropped; `pattern` errors are
 * left to the time checks, which give the original's message.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from "ajv/dist/2020";
import schemaJson from "../../schemas/experiment_profile.schema.json";
import { PyInt } from "../util/python-format";
import { ADDED_CODES, type Diagnostic, didYouMean, formatPath, type PathSegment, type SourceMap } from "./diagnostics";
import type { YamlValue } from "./load";

export const PROFILE_SCHEMA: object = schemaJson;

export const ACTION_TYPES = ["log", "start", "pause", "resume", "stop", "update", "when", "repeat"] as const;
export const BASIC_ACTION_TYPES = ["log", "start", "pause", "resume", "stop", "update"] as const;

/** Legacy hour-number fields and the modern fields that also accept `30s`-style strings. */
const LEGACY_TIME_FIELDS: Readonly<Record<string, string>> = {
  hours_elapsed: "t",
  repeat_every_hours: "every",
  max_hours: "max_time",
};

const TYPE_ORDER = ["boolean", "integer", "number", "string", "object", "array", "null"];
const PY_TYPE_NAMES: Record<string, string> = {
  boolean: "bool",
  integer: "int",
  number: "float",
  string: "str",
  object: "object",
  array: "array",
  null: "null",
};

/** The name msgspec uses for the type of a decoded YAML value. */
export function decodedTypeName(v: YamlValue | undefined): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return "bool";
  if (v instanceof PyInt) return "int";
  if (typeof v === "number") return "float";
  if (typeof v === "string") return "str";
  if (Array.isArray(v)) return "array";
  return "object";
}

/** The JSON view ajv checks: ints become plain numbers (the schema has no int-only fields). */
export function toPlainJson(v: YamlValue): unknown {
  if (v instanceof PyInt) return v.value;
  if (Array.isArray(v)) return v.map(toPlainJson);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      Object.defineProperty(out, k, { value: toPlainJson(x), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

function decodePointer(pointer: string, data: YamlValue): PathSegment[] {
  if (pointer === "") return [];
  const out: PathSegment[] = [];
  let node: YamlValue | undefined = data;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = node !== null && typeof node === "object" && !(node instanceof PyInt) ? node[seg] : undefined;
    }
  }
  return out;
}

function valueAt(data: YamlValue, path: readonly PathSegment[]): YamlValue | undefined {
  let node: YamlValue | undefined = data;
  for (const seg of path) {
    if (node === null || node === undefined || typeof node !== "object" || node instanceof PyInt) return undefined;
    node = Array.isArray(node) ? node[seg as number] : node[seg as string];
  }
  return node;
}

function expectedText(type: unknown): string {
  const list = (Array.isArray(type) ? type : [type]) as string[];
  return [...list]
    .sort((a, b) => TYPE_ORDER.indexOf(a) - TYPE_ORDER.indexOf(b))
    .map((t) => PY_TYPE_NAMES[t] ?? t)
    .join(" | ");
}

/** True when `path` points into a `repeat`'s `actions` list (only basic actions allowed there). */
function insideRepeat(data: YamlValue, actionPath: readonly PathSegment[]): boolean {
  if (actionPath.length < 3 || actionPath[actionPath.length - 2] !== "actions") return false;
  const parent = valueAt(data, actionPath.slice(0, -2));
  return (
    parent !== null &&
    typeof parent === "object" &&
    !Array.isArray(parent) &&
    !(parent instanceof PyInt) &&
    parent.type === "repeat"
  );
}

export class ProfileSchemaValidator {
  private readonly validateFn: ValidateFunction;

  constructor(schema: object = PROFILE_SCHEMA) {
    const ajv = new Ajv2020({ allErrors: true, discriminator: true, strict: false });
    this.validateFn = ajv.compile(schema);
  }

  /** Structural diagnostics for a decoded document, sorted by position in the file. */
  check(data: YamlValue, sourceMap: SourceMap): Diagnostic[] {
    if (this.validateFn(toPlainJson(data))) return [];
    const errors = this.validateFn.errors ?? [];
    const typeErrorPaths = new Set(errors.filter((e) => e.keyword === "type").map((e) => e.instancePath));
    const out: Diagnostic[] = [];
    const seen = new Set<string>();
    for (const err of errors) {
      if (err.keyword === "pattern" || err.keyword === "oneOf" || err.keyword === "if") continue;
      if (err.keyword !== "type" && typeErrorPaths.has(err.instancePath)) continue;
      const d = this.toDiagnostic(err, data, sourceMap);
      if (!d) continue;
      const key = `${d.code}|${d.path}|${d.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(d);
    }
    return out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  }

  private toDiagnostic(err: ErrorObject, data: YamlValue, sourceMap: SourceMap): Diagnostic | undefined {
    const path = decodePointer(err.instancePath, data);
    const make = (code: string, message: string, at: PathSegment[], hint?: string, preferKey = false): Diagnostic => {
      const pos = sourceMap.locate(at, preferKey);
      return {
        code,
        severity: "error",
        message,
        path: formatPath(at),
        ...(hint ? { hint } : {}),
        ...(pos ? { line: pos.line, column: pos.column } : {}),
      };
    };
    const value = valueAt(data, path);

    switch (err.keyword) {
      case "additionalProperties": {
        const field = String((err.params as { additionalProperty: string }).additionalProperty);
        const allowed = Object.keys((err.parentSchema as { properties?: object })?.properties ?? {});
        let hint = didYouMean(field, allowed);
        const owner = valueAt(data, path);
        const actionType =
          owner && typeof owner === "object" && !Array.isArray(owner) && !(owner instanceof PyInt) ? owner.type : undefined;
        if (!hint && field === "options" && typeof actionType === "string") {
          hint = `\`${actionType}\` takes no options; only \`start\`, \`update\` and \`log\` do.`;
        }
        if (actionType === "log" && (field === "message" || field === "level")) {
          hint = `Put \`${field}\` under \`options:\`.`;
        }
        if (!hint && allowed.length > 0 && allowed.length <= 12) {
          hint = `Allowed here: ${allowed.map((a) => `\`${a}\``).join(", ")}.`;
        }
        return make(ADDED_CODES.unknownField, `Object contains unknown field \`${field}\``, [...path, field], hint, true);
      }
      case "required": {
        const field = String((err.params as { missingProperty: string }).missingProperty);
        return make(ADDED_CODES.missingField, `Object missing required field \`${field}\``, path);
      }
      case "type": {
        const expected = expectedText((err.params as { type: unknown }).type);
        const got = decodedTypeName(value);
        if (path.length === 1 && path[0] === "version" && (got === "float" || got === "int")) {
          return make(
            ADDED_CODES.versionNotString,
            `Expected \`str\`, got \`${got}\`: an unquoted \`version: ${got === "float" ? "1.0" : String(value)}\` is a number in YAML.`,
            path,
            'Write `version: "1.0"` with the quotes.',
          );
        }
        let hint: string | undefined;
        if (expected.includes("str") && (got === "bool" || got === "float" || got === "int")) {
          hint = "YAML reads unquoted `yes`, `no`, `on`, `off`, `true` and numbers as non-strings; quote the value.";
        }
        if (got === "null" && expected === "object") {
          hint = path.length === 0 ? 'The document is empty; start with `version: "1.0"`.' : "Give it content or remove the key.";
        }
        const field = path[path.length - 1];
        const modern = typeof field === "string" ? LEGACY_TIME_FIELDS[field] : undefined;
        if (modern && got === "str") {
          hint = `\`${field}\` takes hours as a number; for a value with a unit use \`${modern}: ${String(value)}\`.`;
        }
        return make(ADDED_CODES.wrongType, `Expected \`${expected}\`, got \`${got}\``, path, hint);
      }
      case "enum": {
        const allowed = ((err.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
        const shown = typeof value === "string" ? value : String(value);
        const hint = didYouMean(shown, allowed) ?? `Allowed: ${allowed.map((a) => `\`${a}\``).join(", ")}.`;
        return make(ADDED_CODES.invalidValue, `Invalid enum value '${shown}'`, path, hint);
      }
      case "const": {
        return make(ADDED_CODES.invalidValue, `Invalid value '${String(value)}'`, path);
      }
      case "discriminator": {
        const tagPath = [...path, "type"];
        const tagValue = valueAt(data, tagPath);
        if (tagValue === undefined) return make(ADDED_CODES.missingField, "Object missing required field `type`", path);
        if (typeof tagValue !== "string") {
          return make(ADDED_CODES.wrongType, `Expected \`str\`, got \`${decodedTypeName(tagValue)}\``, tagPath);
        }
        const inRepeat = insideRepeat(data, path);
        const allowed: readonly string[] = inRepeat ? BASIC_ACTION_TYPES : ACTION_TYPES;
        let hint: string | undefined;
        if (inRepeat && (tagValue === "when" || tagValue === "repeat")) {
          hint = `A \`repeat\` may only contain basic actions (${BASIC_ACTION_TYPES.join(", ")}); a \`when\` may contain a \`repeat\`, not the other way round.`;
        } else {
          hint = didYouMean(tagValue, allowed) ?? `Action types: ${allowed.join(", ")}.`;
        }
        return make(ADDED_CODES.unknownActionType, `Invalid value '${tagValue}'`, tagPath, hint);
      }
      default:
        return make(ADDED_CODES.invalidValue, err.message ?? "Invalid value", path);
    }
  }
}
