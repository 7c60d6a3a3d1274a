/**
 * Plugin automations and UI descriptors reach the places users see them: a plugin's dosing
 * automation runs under `pio run dosing_automation --automation-name <it>` (and replaces a
 * built-in of the same name), and the folder it registers with `registerUiDescriptors` is served
 * by the descriptor routes over real HTTP.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { dosingAutomations, withPluginAutomations } from "../../src/automations/commands";
import { registerRunCommand } from "../../src/cli/run-cmd";
import { ensureDevConfig } from "../../src/config/dev-config";
import { builtinCatalog } from "../../src/jobs/catalog";
import { loadPlugins } from "../../src/plugins";
import { connectTestClient, uniqueSuffix, withBrokers } from "../helpers/broker";
import { TopicRecorder } from "../helpers/job-harness";
import { startHarness } from "../leader/web/harness";

const AUTOMATION_PLUGIN = `
exports.pluginName = "dosing-extras";
exports.version = "1.0.0";
exports.register = (api) => {
  const make = (automationName) =>
    class extends api.lib.DosingAutomationJob {
      constructor(deps, dosing, args) {
        super(deps, { automationName, source: api.pluginName, settings: { flavour: { datatype: "string", settable: false } } }, dosing, {});
      }
      async setupAutomation() {
        this.setSetting("flavour", "from " + api.pluginName);
      }
      async execute() {
        return api.lib.automationEvent("NoEvent", "plugin automation ran");
      }
    };
  const MyDosing = make("my_dosing");
  const Chemostat = make("chemostat");
  api.registerAutomation("dosing", "my_dosing", (deps, dosing, args) => new MyDosing(deps, dosing, args));
  api.registerAutomation("dosing", "chemostat", (deps, dosing, args) => new Chemostat(deps, dosing, args));
  api.registerUiDescriptors("extras-ui");
};
`;

const AUTOMATION_DESCRIPTOR = `display_name: My dosing
automation_name: my_dosing
description: A plugin's dosing automation.
source: dosing-extras
fields:
  - key: exchange_volume_ml
    default: 1.0
    label: Volume
    unit: mL
`;

function makeDot(): string {
  const dot = fs.mkdtempSync(path.join(os.tmpdir(), "pio-plugin-auto-"));
  // Not plugins/ui/ (served anyway): the folder the plugin itself registers.
  fs.mkdirSync(path.join(dot, "plugins", "extras-ui", "automations", "dosing"), { recursive: true });
  fs.writeFileSync(path.join(dot, "plugins", "dosing_extras.js"), AUTOMATION_PLUGIN);
  fs.writeFileSync(path.join(dot, "plugins", "extras-ui", "automations", "dosing", "my_dosing.yaml"), AUTOMATION_DESCRIPTOR);
  return dot;
}

test("plugin automations are offered next to the built-ins, and one with a built-in's name replaces it", () => {
  const dot = makeDot();
  try {
    const env = { TESTING: "1", PLUGINS_DEV: path.join(dot, "plugins"), DOT_PIOREACTOR: dot };
    const builtIns = dosingAutomations();
    const merged = withPluginAutomations("dosing", builtIns, { env, cwd: dot });
    expect(Object.keys(merged)).toEqual([...Object.keys(builtIns), "my_dosing"]);
    expect(merged.chemostat).not.toBe(builtIns.chemostat);
    expect(merged.silent).toBe(builtIns.silent);
    // SKIP_PLUGINS leaves the built-ins alone.
    expect(withPluginAutomations("dosing", builtIns, { env: { ...env, SKIP_PLUGINS: "1" }, cwd: dot })).toEqual(builtIns);
  } finally {
    fs.rmSync(dot, { recursive: true, force: true });
  }
});

test("the descriptor routes serve the folders plugins register", async () => {
  const dot = makeDot();
  const env = { TESTING: "1", PLUGINS_DEV: path.join(dot, "plugins"), DOT_PIOREACTOR: dot };
  const dirs = loadPlugins({ env, cwd: dot }).uiDescriptorDirs();
  expect(dirs).toEqual([path.join(dot, "plugins", "extras-ui")]);
  const h = await startHarness({ pluginDescriptorDirs: () => dirs });
  try {
    for (const prefix of ["/api", "/unit_api"]) {
      const res = await h.request("GET", `${prefix}/automations/descriptors/dosing`);
      expect(res.status).toBe(200);
      const mine = (res.json as Array<Record<string, unknown>>).find((d) => d.automation_name === "my_dosing");
      expect(mine).toMatchObject({ display_name: "My dosing", source: "dosing-extras" });
    }
  } finally {
    await h.close();
    fs.rmSync(dot, { recursive: true, force: true });
  }
});

for (const broker of withBrokers()) {
  describe(`plugin automations under pio run on the ${broker.name} broker`, () => {
    test("`pio run dosing_automation --automation-name my_dosing` runs the plugin's automation", async () => {
      const dot = makeDot();
      const unit = `unit${uniqueSuffix()}`;
      ensureDevConfig({ dir: dot, brokerPort: Number(new URL(broker.url).port) });
      const env: NodeJS.ProcessEnv = {
        TESTING: "1",
        PLUGINS_DEV: path.join(dot, "plugins"),
        DOT_PIOREACTOR: dot,
        GLOBAL_CONFIG: path.join(dot, "config.ini"),
        HOSTNAME: unit,
        EXPERIMENT: "exp1",
      };
      const base = `pioreactor/${unit}/exp1/dosing_automation`;
      const recorder = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`);
      let code = -1;
      const program = new Command("pio").exitOverride();
      const stdout = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
      try {
        registerRunCommand(program, { env, cwd: dot, configOverrides: [], catalog: builtinCatalog(), setExitCode: (c) => (code = c) });
        const running = program.parseAsync(["node", "pio", "run", "dosing_automation", "--automation-name", "my_dosing"]);
        await recorder.waitFor((m) => m.topic === `${base}/$state` && m.payload === "ready", 20_000);
        await recorder.waitFor((m) => m.topic === `${base}/automation_name` && m.payload === "my_dosing");
        await recorder.waitFor((m) => m.topic === `${base}/flavour` && m.payload === "from dosing-extras");
        const client = await connectTestClient(broker.url);
        await client.publish(`${base}/$state/set`, "disconnected", { qos: 1, retain: false });
        await running;
        await client.end();
        expect(code).toBe(0);
      } finally {
        stdout.mockRestore();
        await recorder.end();
        fs.rmSync(dot, { recursive: true, force: true });
      }
    });
  });
}
