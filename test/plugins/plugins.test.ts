/**
 * Plugins in a temporary $DOT_PIOREACTOR: a drop-in file defining a job appears in the `pio run`
 * catalog and runs on the embedded broker, logging under its plugin name; a plugin that throws is
 * reported (name, file, line, message) and skipped; npm packages flagged with `"pioreactor"` load;
 * SKIP_PLUGINS and PLUGINS_DEV behave as in the original; `pio plugins list`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { registerRunCommand } from "../../src/cli/run-cmd";
import { ensureDevConfig } from "../../src/config/dev-config";
import { builtinCatalog, mergeCatalogs } from "../../src/jobs/catalog";
import { missingPlugins } from "../../src/profiles/plugin-check";
import {
  discoverPluginSources,
  formatPluginLoadError,
  installedPluginVersions,
  loadPlugins,
  pluginCatalogEntries,
  registerPluginsCommands,
} from "../../src/plugins";
import { connectTestClient, uniqueSuffix, withBrokers } from "../helpers/broker";
import { TopicRecorder } from "../helpers/job-harness";

const JOB_PLUGIN = `
exports.pluginName = "my-plugin";
exports.version = "0.2.0";
exports.summary = "A plugin job for tests";
exports.author = "Test Author";
exports.homepage = "https://example.com/my-plugin";
exports.register = (api) => {
  class MyJob extends api.lib.BackgroundJob {
    constructor(deps, source) {
      super(deps, { jobName: "my_job", source, settings: { reading: { datatype: "float", settable: false } } });
    }
    async setup() {
      this.setSetting("reading", 42.5);
      this.logger.info("my_job says hello");
    }
  }
  api.registerJob({ name: "my_job", summary: "A plugin job.", create: (deps, input) => new MyJob(deps, input.source) });
  // Replaces the built-in of the same name, as the original allows.
  api.registerJob({ name: "stirring", summary: "Plugin stirring.", create: (deps, input) => new MyJob(deps, input.source) });
  api.registerAutomation("dosing", "my_dosing", () => { throw new Error("not run here"); });
  api.registerDbSink({ topic: "pioreactor/+/+/my_job/reading", table: "my_readings", parse: (t, p) => ({ value: Number(p) }) });
  api.registerUiDescriptors("my-ui");
};
`;

const BROKEN_AT_LOAD = `// fails while the file is evaluated
const x = 1;
throw new TypeError("boom at load " + x);
`;

const BROKEN_IN_REGISTER = `exports.pluginName = "half-registered";
exports.register = (api) => {
  api.registerJob({ name: "half_job", create: () => { throw new Error("never"); } });
  api.registerJob({ name: "Bad Name", create: () => { throw new Error("never"); } });
};
`;

function makeDot(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-plugins-"));
  fs.mkdirSync(path.join(dir, "plugins"));
  fs.writeFileSync(path.join(dir, "plugins", "a_my_plugin.js"), JOB_PLUGIN);
  fs.writeFileSync(path.join(dir, "plugins", "b_broken.js"), BROKEN_AT_LOAD);
  fs.writeFileSync(path.join(dir, "plugins", "c_half.js"), BROKEN_IN_REGISTER);
  fs.writeFileSync(path.join(dir, "plugins", "README.txt"), "not a plugin");
  return dir;
}

describe("plugin discovery and loading", () => {
  let dot: string;
  beforeEach(() => {
    dot = makeDot();
  });
  afterEach(() => fs.rmSync(dot, { recursive: true, force: true }));

  const load = (env: NodeJS.ProcessEnv = { DOT_PIOREACTOR: dot }) => loadPlugins({ env, cwd: dot, nodeModulesDirs: [] });

  test("a drop-in file's metadata and job; the job is in the catalog and overrides a built-in", () => {
    const registry = load();
    expect(registry.plugins()).toEqual([
      {
        name: "my-plugin",
        version: "0.2.0",
        description: "A plugin job for tests",
        homepage: "https://example.com/my-plugin",
        source: "plugins/a_my_plugin.js",
        author: "Test Author",
      },
    ]);
    const catalog = mergeCatalogs(builtinCatalog(), pluginCatalogEntries(registry));
    const mine = catalog.find((e) => e.name === "my_job");
    expect(mine).toMatchObject({ summary: "A plugin job.", source: "my-plugin" });
    expect(catalog.filter((e) => e.name === "stirring")).toEqual([expect.objectContaining({ source: "my-plugin", summary: "Plugin stirring." })]);
    expect(Object.keys(registry.automations("dosing"))).toEqual(["my_dosing"]);
    expect(registry.automations("led")).toEqual({});
    expect(registry.dbSinks().map((s) => s.table)).toEqual(["my_readings"]);
    expect(registry.uiDescriptorDirs()).toEqual([path.join(dot, "plugins", "my-ui")]);
  });

  test("a plugin that throws is reported with file, line and message and skipped, keeping nothing it registered", () => {
    const registry = load();
    expect(registry.errors).toEqual([
      { name: "b_broken", file: path.join(dot, "plugins", "b_broken.js"), line: 3, column: expect.any(Number), message: "TypeError: boom at load 1" },
      {
        name: "half-registered",
        file: path.join(dot, "plugins", "c_half.js"),
        line: 4,
        column: expect.any(Number),
        message: 'Error: job name "Bad Name" must be lower-case words joined by underscores, e.g. "my_job"',
      },
    ]);
    expect(formatPluginLoadError(registry.errors[0])).toMatch(/b_broken\.js:3:\d+ plugin load error: TypeError: boom at load 1$/);
    expect(registry.jobs().map((j) => j.command.name)).toEqual(["my_job", "stirring"]);
    expect(registry.plugins().map((p) => p.name)).toEqual(["my-plugin"]);
  });

  test("SKIP_PLUGINS loads nothing; under TESTING only PLUGINS_DEV is read", () => {
    expect(discoverPluginSources({ env: { DOT_PIOREACTOR: dot, SKIP_PLUGINS: "1" }, cwd: dot, nodeModulesDirs: [] })).toEqual([]);
    expect(load({ DOT_PIOREACTOR: dot, TESTING: "1" }).plugins()).toEqual([]);
    const dev = fs.mkdtempSync(path.join(os.tmpdir(), "pio-plugins-dev-"));
    fs.writeFileSync(path.join(dev, "dev_plugin.js"), "exports.version = '1.0';\n");
    try {
      const reg = load({ DOT_PIOREACTOR: dot, TESTING: "1", PLUGINS_DEV: dev });
      expect(reg.plugins()).toEqual([
        { name: "dev_plugin", version: "1.0", description: "Unknown", homepage: "Unknown", source: "plugins/dev_plugin.js", author: "Unknown" },
      ]);
    } finally {
      fs.rmSync(dev, { recursive: true, force: true });
    }
  });

  test("npm packages with a `pioreactor` field load before files; others are ignored", () => {
    const nm = path.join(dot, "plugins", "node_modules");
    const mk = (name: string, pkg: object, main: string) => {
      fs.mkdirSync(path.join(nm, name), { recursive: true });
      fs.writeFileSync(path.join(nm, name, "package.json"), JSON.stringify({ name, ...pkg }));
      fs.writeFileSync(path.join(nm, name, "index.js"), main);
    };
    mk("pioreactor-air-bubbler", { version: "0.4.1", description: "Bubbles", author: { name: "Cam" }, pioreactor: {} },
      "exports.register = (api) => api.registerJob({ name: 'air_bubbler', run: async () => 0 });");
    mk("left-pad", { version: "1.0.0" }, "throw new Error('must not be loaded');");
    const registry = loadPlugins({ env: { DOT_PIOREACTOR: dot }, cwd: dot });
    expect(registry.plugins()[0]).toEqual({
      name: "pioreactor-air-bubbler",
      version: "0.4.1",
      description: "Bubbles",
      homepage: "Unknown",
      source: "npm:pioreactor-air-bubbler",
      author: "Cam",
    });
    const bubbler = registry.jobs().find((j) => j.command.name === "air_bubbler");
    expect(bubbler).toMatchObject({ plugin: "pioreactor-air-bubbler", command: { summary: "", options: [] } });
  });

  test("the profile plugin check uses the installed versions", () => {
    const installed = installedPluginVersions({ env: { DOT_PIOREACTOR: dot }, cwd: dot, nodeModulesDirs: [] });
    expect(installed).toEqual({ "my-plugin": "0.2.0" });
    expect(missingPlugins([{ name: "my-plugin", version: ">=0.1" }], installed)).toEqual([]);
    expect(missingPlugins([{ name: "my-plugin", version: ">=0.3" }], installed)).toEqual([{ name: "my-plugin", version: ">=0.3" }]);
  });

  test("pio plugins list [--json]", async () => {
    const out: string[] = [];
    const warn: string[] = [];
    const program = new Command("pio").exitOverride();
    registerPluginsCommands(program, { load, print: (l) => out.push(l), warn: (l) => warn.push(l) });
    await program.parseAsync(["node", "pio", "plugins", "list"]);
    expect(out).toEqual(["my-plugin==0.2.0"]);
    expect(warn).toHaveLength(2);
    out.length = 0;
    await program.parseAsync(["node", "pio", "plugins", "list", "--json"]);
    expect(JSON.parse(out[0])).toEqual([
      {
        name: "my-plugin",
        version: "0.2.0",
        description: "A plugin job for tests",
        homepage: "https://example.com/my-plugin",
        source: "plugins/a_my_plugin.js",
        author: "Test Author",
      },
    ]);
  });
});

for (const broker of withBrokers()) {
  describe(`a plugin job under pio run on the ${broker.name} broker`, () => {
    test("runs, publishes its settings and logs under logs/<plugin>/…, stops on $state/set", async () => {
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
      const recorder = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`);
      let code = -1;
      const program = new Command("pio").exitOverride();
      const stderr = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
      const stdout = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
      try {
        registerRunCommand(program, { env, cwd: dot, configOverrides: [], catalog: builtinCatalog(), setExitCode: (c) => (code = c) });
        const broken = stderr.mock.calls.map((c) => String(c[0])).join("");
        expect(broken).toContain("b_broken.js:3");
        expect(broken).toContain("plugin load error: TypeError: boom at load 1");
        const running = program.parseAsync(["node", "pio", "run", "my_job"]);
        await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/my_job/$state` && m.payload === "ready", 20_000);
        await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/my_job/reading` && m.payload === "42.5");
        const log = await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/logs/my-plugin/info` && m.payload.includes("my_job says hello"));
        expect(JSON.parse(log.payload)).toMatchObject({ task: "my_job", source: "my-plugin", level: "INFO" });
        const client = await connectTestClient(broker.url);
        await client.publish(`pioreactor/${unit}/exp1/my_job/$state/set`, "disconnected", { qos: 1, retain: false });
        await running;
        await client.end();
        expect(code).toBe(0);
        await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/my_job/$state` && m.payload === "disconnected");
      } finally {
        stderr.mockRestore();
        stdout.mockRestore();
        await recorder.end();
        fs.rmSync(dot, { recursive: true, force: true });
      }
    });
  });
}
