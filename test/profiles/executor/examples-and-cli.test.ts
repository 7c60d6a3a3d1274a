/** The example profiles in profiles/ (each validates and dry-runs to completion) and the profile CLI commands. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { Command } from "commander";
import { registerProfileCommands, registerRunProfileCommands } from "../../../src/cli/profile-cmd";
import { buildPlan, formatPlan } from "../../../src/profiles/plan";
import { validateProfileText } from "../../../src/profiles/validate";
import { planToSvg } from "../../../src/profiles/plan-svg";
import { profileFrom, setUp } from "./harness";

const EXAMPLES = path.join(__dirname, "../../../profiles");
const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));

describe("example profiles", () => {
  test("there are at least five", () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  test.each(files)("%s validates without warnings and dry-runs to completion", async (file) => {
    const text = fs.readFileSync(path.join(EXAMPLES, file), "utf8");
    expect(validateProfileText(text, { filename: file }).diagnostics).toEqual([]);
    const profile = profileFrom(text);
    const units = ["leader", "unit1", "unit2"];
    const { log, executor } = setUp(Object.fromEntries(units.map((u) => [u, { experiment: "exp1" }])));
    // High enough for every example's `when` on growth rate (demo.yaml waits for > 0.6/h).
    const lookups = { get: async () => '{"growth_rate": 0.9}' };
    const outcome = await executor(profile, { dryRun: true, lookups }).run();
    expect(outcome.status).toBe("finished");
    expect(outcome.actionCount).toBeGreaterThan(0);
    expect(log.lines.filter((l) => l.level === "ERROR" || l.level === "WARNING")).toEqual([]);
  });
});

describe("plan", () => {
  test("expands repeats, marks when branches conditional, keeps executor order", () => {
    const profile = profileFrom(fs.readFileSync(path.join(EXAMPLES, "light-cycles.yaml"), "utf8"));
    const plan = buildPlan(profile, { commonUnits: ["unit1"] });
    const updates = plan.entries.filter((e) => e.type === "update");
    expect(updates).toHaveLength(14);
    expect(updates.slice(0, 2).map((e) => [e.atSeconds, e.detail])).toEqual([
      [0, "B=40"],
      [43200, "B=0"],
    ]);
    const when = buildPlan(profileFrom(fs.readFileSync(path.join(EXAMPLES, "when-growth-rate.yaml"), "utf8")));
    expect(when.entries.filter((e) => e.job === "dosing_automation").map((e) => [e.type, e.atSeconds, e.conditional])).toEqual([
      ["when", 600, false],
      ["log", 600, true],
      ["start", 600, true],
    ]);
    expect(formatPlan(when)).toContain("     10m ? start   options {'automation_name': 'turbidostat', 'target_od': 1.5}");
    const svg = planToSvg(plan);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<circle/g)).toHaveLength(plan.entries.length);
  });
});

function cli() {
  let stdout = "";
  let stderr = "";
  let exitCode: number | undefined;
  const sink = (fn: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        fn(String(chunk));
        cb();
      },
    });
  const deps = {
    env: { ...process.env },
    cwd: process.cwd(),
    stdout: sink((s) => {
      stdout += s;
    }),
    stderr: sink((s) => {
      stderr += s;
    }),
    setExitCode: (c: number) => {
      exitCode = c;
    },
  };
  const program = new Command("pio").exitOverride();
  const run = program.command("run");
  registerRunProfileCommands(run, deps);
  registerProfileCommands(program, deps);
  return {
    parse: (args: string[]) => program.parseAsync(["node", "pio", ...args]),
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    get exitCode() {
      return exitCode;
    },
  };
}

describe("CLI", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "profile-cli-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("verify is silent on success and prints file:line:col diagnostics on errors", async () => {
    const ok = cli();
    await ok.parse(["run", "experiment_profile", "verify", path.join(EXAMPLES, "turbidostat.yaml")]);
    expect([ok.stdout, ok.stderr, ok.exitCode]).toEqual(["", "", 0]);

    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(bad, 'version: 1.0\nexperiment_profile_name: x\ncommon:\n  jobs:\n    stirring:\n      actions:\n        - {type: strat, t: 0s}\n');
    const c = cli();
    await expect(c.parse(["run", "experiment_profile", "verify", bad])).rejects.toThrow(/error\(s\) in/);
    expect(c.stderr).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:1:10: error\\[`, "m"));
    expect(c.stderr).toMatch(/:7:\d+: error\[[a-z_.]+\]: .*strat/);
  });

  test("profile plan prints the timeline and writes an SVG", async () => {
    const c = cli();
    const svg = path.join(dir, "plan.svg");
    await c.parse(["profile", "plan", path.join(EXAMPLES, "multi-unit-common.yaml"), "--svg", svg, "--units", "unit1,unit2"]);
    expect(c.stdout).toContain("Profile: Same treatment on every unit, one unit different");
    expect(c.stdout).toContain("unit2\n  stirring\n");
    expect(fs.readFileSync(svg, "utf8")).toContain("<svg");
    expect(c.exitCode).toBe(0);
  });

  test("run profile --clock virtual rehearses a multi-day profile at once, with --input", async () => {
    const c = cli();
    await c.parse(["run", "profile", path.join(EXAMPLES, "turbidostat.yaml"), "--clock", "virtual", "--dry-run", "--input", "target_od=2.5"]);
    expect(c.stdout).toMatch(/^Rehearsal finished: 9 action\(s\)/m);
    expect(c.stderr).toContain("Turbidostat on leader holding OD 2.5");
    expect(c.stderr).toContain("Finished executing DRY-RUN of profile Turbidostat at OD 1.0.");
    expect(c.exitCode).toBe(0);
  });
});
