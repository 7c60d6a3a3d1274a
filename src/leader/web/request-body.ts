/**
 * Request bodies as the original reads them: the raw bytes are decoded as JSON whatever the
 * Content-Type says (the UI and `pio` do not always send one), then checked against a small
 * struct description. Failures give 400 "Invalid request body." with a msgspec-like `cause` and a
 * remediation naming the required fields, before any handler changes anything.
 */
import type { Request } from "express";
import { HttpError } from "./http-errors";

export type FieldType = "str" | "int" | "float" | "bool" | "object" | "array" | "any";

export interface FieldSpec {
  type: FieldType | FieldType[];
  required?: boolean;
  /** `null` is accepted (Python `str | None`). */
  nullable?: boolean;
  /** For arrays: the type of every item. */
  items?: FieldType;
  /** For objects: the type of every value. */
  values?: FieldType | FieldType[];
  valuesNullable?: boolean;
}

export interface StructSpec {
  fields: Record<string, FieldSpec>;
  /** msgspec's `forbid_unknown_fields` (most request structs set it). */
  forbidUnknown?: boolean;
}

/** The body bytes, whatever parser (or none) ran before. */
function rawBody(req: Request): Buffer | undefined {
  const body: unknown = req.body;
  if (Buffer.isBuffer(body)) return body;
  return undefined;
}

function invalidBody(cause: string, spec: StructSpec): HttpError {
  const required = Object.entries(spec.fields)
    .filter(([, f]) => f.required)
    .map(([name]) => name);
  return new HttpError(400, "Invalid request body.", {
    cause,
    remediation: required.length > 0 ? `Send a JSON object with the required fields: ${required.join(", ")}.` : "Send a valid JSON object.",
  });
}

/** The JSON value of the body, or undefined for an empty body. Throws 400 on malformed JSON. */
export function parseJsonBody(req: Request, spec: StructSpec = { fields: {} }): unknown {
  const bytes = rawBody(req);
  if (!bytes || bytes.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalidBody("Input data was truncated or is not valid UTF-8", spec);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidBody(`JSON is malformed: ${(e as Error).message}`, spec);
  }
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "str";
  return "object";
}

function matches(v: unknown, t: FieldType): boolean {
  switch (t) {
    case "any":
      return true;
    case "str":
      return typeof v === "string";
    case "int":
      return typeof v === "number" && Number.isInteger(v);
    case "float":
      return typeof v === "number";
    case "bool":
      return typeof v === "boolean";
    case "array":
      return Array.isArray(v);
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
  }
}

function describe(t: FieldType | FieldType[]): string {
  const list = Array.isArray(t) ? t : [t];
  return list.map((x) => (x === "object" ? "object" : x === "array" ? "array" : x)).join(" | ");
}

function checkValue(v: unknown, types: FieldType | FieldType[], nullable: boolean | undefined, at: string): string | undefined {
  if (v === null && nullable) return undefined;
  const list = Array.isArray(types) ? types : [types];
  if (!list.some((t) => matches(v, t))) {
    return `Expected \`${describe(types)}${nullable ? " | null" : ""}\`, got \`${typeName(v)}\` - at \`${at}\``;
  }
  return undefined;
}

/**
 * Decodes the body into a plain object matching `spec`. An empty body counts as `{}` when no field
 * is required (the original accepts bodyless POSTs for such routes).
 */
export function decodeBody<T = Record<string, unknown>>(req: Request, spec: StructSpec): T {
  const value = parseJsonBody(req, spec);
  const hasRequired = Object.values(spec.fields).some((f) => f.required);
  if (value === undefined) {
    if (hasRequired) throw invalidBody("Input data was truncated", spec);
    return {} as T;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidBody(`Expected \`object\`, got \`${typeName(value)}\``, spec);
  }
  const obj = value as Record<string, unknown>;
  for (const [name, field] of Object.entries(spec.fields)) {
    if (!(name in obj)) {
      if (field.required) throw invalidBody(`Object missing required field \`${name}\``, spec);
      continue;
    }
    const problem = checkValue(obj[name], field.type, field.nullable, `$.${name}`);
    if (problem) throw invalidBody(problem, spec);
    if (field.items && Array.isArray(obj[name])) {
      const items = obj[name] as unknown[];
      for (let i = 0; i < items.length; i++) {
        const itemProblem = checkValue(items[i], field.items, false, `$.${name}[${i}]`);
        if (itemProblem) throw invalidBody(itemProblem, spec);
      }
    }
    if (field.values && matches(obj[name], "object")) {
      for (const [k, v] of Object.entries(obj[name] as Record<string, unknown>)) {
        const valueProblem = checkValue(v, field.values, field.valuesNullable, `$.${name}[...]`);
        if (valueProblem) throw invalidBody(valueProblem.replace("[...]", `[${JSON.stringify(k)}]`), spec);
      }
    }
  }
  if (spec.forbidUnknown) {
    for (const key of Object.keys(obj)) {
      if (!(key in spec.fields)) throw invalidBody(`Object contains unknown field \`${key}\``, spec);
    }
  }
  return obj as T;
}
