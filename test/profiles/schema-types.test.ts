// biome-ignore-all lint/suspicious/noTemplateCurlyInString: profile expressions are written ${{ … }}
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ProfileSchemaValidator, toPlainJson } from "../../src/profiles/schema";
import type { Action, Profile, ProfileDocument } from "../../src/profiles/types";
import { validateProfileText } from "../../src/profiles/validate";
import { SourceMap } from "../../src/profiles/diagnostics";
import { PyInt } from "../../src/util/python-format";
import type { YamlValue } from "../../src/profiles/load";

const schemaValidator = new ProfileSchemaValidator();
const validDir = join(__dirname, "valid");

describe("our valid fixtures", () => {
  const files = readdirSync(validDir).filter((f) => f.endsWith(".yaml"));
  test.each(files)("%s validates without any diagnostic", (file) => {
    const r = validateProfileText(readFileSync(join(validDir, file), "utf8"), { schemaValidator, knownUnits: ["worker1"] });
    expect(r.diagnostics).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.profile?.version).toBe("1.0");
  });
});

describe("the original's shipped example profiles (read from the mirror when present)", () => {
  const mirror = "/work/.mirror/Pioreactor+pioreactor/repo";
  const dir = "packaging/shared-assets/pioreactor/experiment_profiles/";
  let paths: string[] = [];
  try {
    paths = execFileSync("git", ["-C", mirror, "ls-tree", "--name-only", "HEAD", dir], { encoding: "utf8" })
      .split("\n")
      .filter((p) => /\.ya?ml$/.test(p));
  } catch {
    paths = [];
  }
  const maybe = paths.length > 0 ? test.each(paths) : test.skip.each(["(mirror not available)"]);
  maybe("%s is valid", (path) => {
    const text = execFileSync("git", ["-C", mirror, "show", `HEAD:${path}`], { encoding: "utf8" });
    const r = validateProfileText(text, { schemaValidator });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  });
});

describe("types match the schema", () => {
  test("a ProfileDocument built in code passes the schema", () => {
    const doc: ProfileDocument = {
      version: "1.0",
      experiment_profile_name: "typed",
      plugins: [{ name: "p", version: "1.0.0" }],
      inputs: { rpm: new PyInt(400) },
      common: {
        jobs: {
          stirring: {
            actions: [
              { type: "start", t: "0s", options: { target_rpm: 400 }, args: ["--x"], config_overrides: {} },
              { type: "update", t: 1, options: { target_rpm: "${{ rpm + 1 }}" } },
              { type: "log", t: "1m", options: { message: "hi", level: "info" } },
              {
                type: "when",
                t: 0,
                wait_until: "::stirring:$state == ready",
                actions: [{ type: "repeat", t: 0, every: "1m", while: true, max_time: "1h", actions: [{ type: "pause", t: 0 }] }],
              },
              { type: "resume", hours_elapsed: 1 },
              { type: "stop", t: "2h", if: "${{ True }}" },
            ],
          },
        },
      },
      pioreactors: { worker1: { label: "a", jobs: {} } },
    };
    expect(schemaValidator.check(doc as unknown as YamlValue, new SourceMap())).toEqual([]);
  });

  test("decoding fills every default, with the declared types", () => {
    const r = validateProfileText(
      'version: "1.0"\nexperiment_profile_name: d\ncommon:\n  jobs:\n    j:\n      actions:\n        - type: start\n          t: 1\n          options: {a: 1, b: 1.0}\n        - type: repeat\n          t: 0s\n          every: 1m\n          actions: []\n',
      { schemaValidator },
    );
    const expected: Profile = {
      version: "1.0",
      experiment_profile_name: "d",
      metadata: { author: null, description: null },
      plugins: [],
      inputs: {},
      common: {
        jobs: {
          j: {
            description: null,
            actions: [
              { type: "start", t: 1, hours_elapsed: null, if: true, options: { a: new PyInt(1), b: 1 }, args: [], config_overrides: {} },
              {
                type: "repeat",
                t: "0s",
                hours_elapsed: null,
                if: true,
                repeat_every_hours: null,
                every: "1m",
                while: true,
                max_hours: null,
                max_time: null,
                actions: [],
              } satisfies Action,
            ],
          },
        },
      },
      pioreactors: {},
    };
    expect(r.profile).toEqual(expected);
    const start = r.profile!.common.jobs.j.actions[0];
    expect(start.type === "start" && start.options.a instanceof PyInt).toBe(true);
    expect(start.type === "start" && typeof start.options.b).toBe("number");
  });

  test("ints become plain numbers for ajv only", () => {
    expect(toPlainJson({ a: new PyInt(1), b: [new PyInt(2), 2.5] })).toEqual({ a: 1, b: [2, 2.5] });
  });
});
