import { formatDiagnostic, firstErrorText, toOriginalShape } from "../../src/profiles/diagnostics";
import { loadYaml } from "../../src/profiles/load";
import { parsePluginVersionConstraint } from "../../src/profiles/plugin-version";
import type { Profile } from "../../src/profiles/types";
import { validateProfile } from "../../src/profiles/validate";
import { formatPyScalar, PyInt } from "../../src/util/python-format";

const scalar = (text: string) => (loadYaml(`v: ${text}\n`).value as { v: unknown }).v;

describe("YAML 1.1 scalars as PyYAML resolves them (profiles spec §2.1)", () => {
  test.each([
    ["yes", true],
    ["On", true],
    ["OFF", false],
    ["no", false],
    ["y", "y"],
    ["true", true],
    ["~", null],
    ["null", null],
    ["", null],
    ["1e3", "1e3"],
    ["1.0e3", "1.0e3"],
    ["-.5", "-.5"],
    ["2024-01-01", "2024-01-01"],
    ['"1.0"', "1.0"],
    ["'yes'", "yes"],
    ["!!str 1.0", "1.0"],
  ])("%s → %p", (text, expected) => {
    expect(scalar(text)).toEqual(expected);
  });
  test.each([
    ["1", "1"],
    ["010", "8"],
    ["0x1F", "31"],
    ["0b101", "5"],
    ["1:30", "90"],
    ["1_000", "1000"],
    ["-0", "0"],
    ["!!int '7'", "7"],
  ])("%s is the int %s", (text, printed) => {
    const v = scalar(text);
    expect(v).toBeInstanceOf(PyInt);
    expect(formatPyScalar(v)).toBe(printed);
  });
  test.each([
    ["1.0", "1.0"],
    ["400.0", "400.0"],
    ["1.0e+3", "1000.0"],
    [".5", "0.5"],
    ["1.", "1.0"],
    ["1:30.5", "90.5"],
    [".inf", "inf"],
    ["-.Inf", "-inf"],
    [".nan", "nan"],
    ["!!float 1", "1.0"],
  ])("%s is the float %s", (text, printed) => {
    const v = scalar(text);
    expect(typeof v).toBe("number");
    expect(formatPyScalar(v)).toBe(printed);
  });
});

describe("structure and positions", () => {
  test("merge keys and anchors follow PyYAML; own keys win", () => {
    const r = loadYaml("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nn: *b\n");
    expect(r.diagnostics).toEqual([]);
    expect(r.value).toEqual({
      base: { x: new PyInt(1), y: new PyInt(2) },
      m: { x: new PyInt(1), y: new PyInt(3) },
      n: { x: new PyInt(1), y: new PyInt(2) },
    });
  });
  test("duplicate keys: last wins, with a warning at the later key", () => {
    const r = loadYaml("a: 1\nb: 2\na: 3\n");
    expect(r.value).toEqual({ a: new PyInt(3), b: new PyInt(2) });
    expect(r.diagnostics).toMatchObject([{ code: "yaml.duplicate_key", severity: "warning", line: 3, column: 1, path: "a" }]);
  });
  test("every node has a position", () => {
    const r = loadYaml("a:\n  - x: 1\n    y: [2, 3]\n");
    expect(r.sourceMap.locate(["a", 0, "y", 1])).toEqual({ line: 3, column: 12 });
    expect(r.sourceMap.locate(["a", 0, "y"], true)).toEqual({ line: 3, column: 5 });
    expect(r.sourceMap.locate(["a", 0, "missing"])).toEqual({ line: 2, column: 5 });
  });
  test("syntax errors carry line and column and give no value", () => {
    const r = loadYaml("a: [1,\nb: {\n");
    expect(r.value).toBeUndefined();
    expect(r.diagnostics[0]).toMatchObject({ code: "yaml.syntax", severity: "error" });
    expect(r.diagnostics[0].line).toBeGreaterThan(0);
  });
  test("several documents are an error, as with PyYAML's single-document load", () => {
    expect(loadYaml("a: 1\n---\nb: 2\n").diagnostics).toMatchObject([{ code: "yaml.syntax", line: 2 }]);
  });
  test("unknown tags and non-string keys are reported", () => {
    expect(loadYaml("a: !foo 1\n").diagnostics).toMatchObject([{ code: "yaml.tag", line: 1, column: 9 }]);
    expect(loadYaml("on: 1\n").diagnostics).toMatchObject([{ code: "yaml.key_type", message: "Expected `str`, got `bool` for the key `on`." }]);
    expect(loadYaml("undefined: *nope\n").diagnostics[0]).toMatchObject({ severity: "error" });
  });
  test("__proto__ keys stay data", () => {
    const v = loadYaml("__proto__: {polluted: 1}\n").value as Record<string, unknown>;
    expect(Object.hasOwn(v, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("formatting and shapes", () => {
  const d = { code: "time.invalid", severity: "error" as const, message: "Bad.", path: "a.b", hint: "Fix it.", line: 12, column: 5 };
  test("formatDiagnostic", () => {
    expect(formatDiagnostic(d, "file.yaml")).toBe("file.yaml:12:5: error[time.invalid]: Bad. (Fix it.)");
    expect(formatDiagnostic({ ...d, line: undefined, column: undefined, hint: undefined }, "f.yaml")).toBe(
      "f.yaml: error[time.invalid]: Bad.",
    );
  });
  test("the original's raise text and API shape", () => {
    expect(firstErrorText([d])).toBe("Bad. In a.b");
    expect(toOriginalShape({ ...d, hint: undefined })).toEqual({ severity: "error", code: "time.invalid", message: "Bad.", path: "a.b" });
  });
});

describe("plugin version constraints (profiles spec §4.2)", () => {
  test.each(["1.2.3", "==1.2.3", ">=1.2.3", "<=1.2.3", " >= 1.0 ", "v1.0", "1.0.0rc1", "==1.0+local"])("%p accepted", (v) => {
    expect(parsePluginVersionConstraint(v)).toBeDefined();
  });
  test.each(["", ">1.2.3", "~=1.2", ">=1,<2", "not-a-version", "==1.0.*", ">=1.0+local"])("%p rejected", (v) => {
    expect(parsePluginVersionConstraint(v)).toBeUndefined();
  });
});

describe("validateProfile on a profile built in code (no positions)", () => {
  test("the original's example: `1 +` in `if`", () => {
    const profile: Profile = {
      version: "1.0",
      experiment_profile_name: "test_profile",
      metadata: { author: "test_author", description: null },
      plugins: [],
      inputs: {},
      common: { jobs: { stirring: { description: null, actions: [{ type: "start", hours_elapsed: 0, t: null, if: "1 +", options: {}, args: [], config_overrides: {} }] } } },
      pioreactors: {},
    };
    expect(validateProfile(profile)).toEqual([
      {
        code: "expression.syntax",
        severity: "error",
        message: "Syntax error in expression.",
        path: "common.jobs.stirring.actions[0].if",
        hint: "Unexpected end of expression at offset 3 of `1 +`.",
      },
    ]);
  });
});
