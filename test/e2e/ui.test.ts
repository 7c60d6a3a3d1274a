/**
 * The original Pioreactor web UI (its prebuilt bundle, extracted from the mirror) against a real
 * `pio serve` (dist CLI, embedded broker, TESTING=1, the leader as its own worker), driven by
 * headless Chromium: overview; stirring started, re-targeted and stopped from the Pioreactors page
 * (a real `pio run stirring` child on simulated hardware, checked on MQTT); an experiment profile
 * created, edited, run, stopped and deleted; config.ini edited and saved; the logs page. Every
 * failed /api or /unit_api call and every console error fails the step it happened in.
 *
 * Skips (saying why) without /usr/bin/chromium, playwright-core, the mirror or the dist build.
 * Screenshots: $E2E_SCREENSHOTS, else a fresh temp dir (printed).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Locator, Page } from "playwright-core";
import { loadPlaywright, openSession, type Session } from "./browser";
import { DIST_PIO, distProblem, type Leader, staleSources, startLeader, UNIT } from "./leader-process";
import { bundleProblem, extractBundle } from "./ui-bundle";

const EXPERIMENT = "e2e-exp";
const { pw, problem: playwrightProblem } = loadPlaywright();
const skipReason = playwrightProblem ?? bundleProblem() ?? distProblem();
if (skipReason) process.stdout.write(`test/e2e/ui.test.ts skipped: ${skipReason}\n`);
const describeUi = skipReason ? describe.skip : describe;

const PROFILE_V1 = `experiment_profile_name: e2e profile
version: "1.0"
metadata:
  author: e2e
  description: created by the UI test
common:
  jobs:
    stirring:
      actions:
        - type: log
          t: 0s
          options:
            message: e2e profile started
        - type: log
          t: 2h
          options:
            message: e2e profile two hours in
`;

describeUi("the original UI against pio serve", () => {
  jest.setTimeout(120_000);
  let bundle: ReturnType<typeof extractBundle>;
  let leader: Leader;
  let s: Session;
  let page: Page;
  let shots: string;
  let shotCount = 0;

  const shot = async (name: string) => {
    const file = path.join(shots, `${String(++shotCount).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  const problemsIn = (step: string) => s.problems.filter((p) => p.page === step).map((p) => `[${p.kind}] ${p.text}`);
  const step = (name: string) => {
    s.step = name;
  };
  const called = (re: RegExp) => s.apiCalls.filter((c) => re.test(c));
  /** Messages recorded since `from` (an index into leader.messages). */
  const since = (from: number, topic: string) => leader.messages.slice(from).filter((m) => m.topic === topic).map((m) => m.payload.toString());
  const waitFor = async (what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await fn())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const controlDialog = async (): Promise<Locator> => {
    const dialog = page.locator(".MuiDialog-paper");
    if (!(await dialog.isVisible())) await page.getByRole("button", { name: "Control", exact: true }).click();
    await dialog.waitFor();
    return dialog;
  };
  /** On the Activities tab, a job's state chip and Start/Stop buttons follow its title. */
  const activity = (dialog: Locator, title: string) => {
    const heading = dialog.getByText(title, { exact: true });
    return {
      start: heading.locator("xpath=following::button[normalize-space()='Start'][1]"),
      stop: heading.locator("xpath=following::button[normalize-space()='Stop'][1]"),
      chip: heading.locator("xpath=following-sibling::span[1]"),
    };
  };
  const chipSays = async (chip: Locator, text: string) => waitFor(`the chip to say ${text}`, async () => (await chip.innerText()).trim() === text);
  const runningJobs = async (): Promise<Array<{ job_name: string; pid: number }>> => (await leader.api("GET", "/unit_api/jobs/running")).json;

  beforeAll(async () => {
    const stale = staleSources();
    if (stale.length > 0) process.stdout.write(`warning: dist/ is older than ${stale.length} source file(s) (e.g. ${stale[0]}); run \`npm run build\`\n`);
    shots = process.env.E2E_SCREENSHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), "pio-e2e-shots-"));
    fs.mkdirSync(shots, { recursive: true });
    process.stdout.write(`e2e screenshots: ${shots}\n`);
    bundle = extractBundle();
    leader = await startLeader({ uiDir: bundle.uiDir, experiment: EXPERIMENT });
    s = await openSession(pw as NonNullable<typeof pw>);
    page = s.page;
  });

  afterAll(async () => {
    await s?.close();
    await leader?.close();
    bundle?.cleanup();
    if (leader?.leftovers.length) process.stdout.write(`job processes killed at close (ignored the stop): ${leader.leftovers.join(", ")}\n`);
    if (leader) fs.rmSync(leader.dir, { recursive: true, force: true });
  });

  test("overview: the start-up calls answer and the page renders the experiment", async () => {
    step("overview");
    await page.goto(`${leader.url}/overview`);
    await page.getByRole("heading", { name: EXPERIMENT }).first().waitFor();
    await page.getByText("Recent event logs").waitFor();
    await page.waitForTimeout(1500);
    await shot("overview");
    for (const route of [
      /^GET \/api\/config\/shared → 200$/,
      /^GET \/api\/experiments\/latest → 200$/,
      /^GET \/api\/workers → 200$/,
      /^GET \/api\/models → 200$/,
      new RegExp(`^GET /api/experiments/${EXPERIMENT}/workers → 200$`),
      /^GET \/api\/charts\/descriptors → 200$/,
      new RegExp(`^GET /api/experiments/${EXPERIMENT}/time_series/growth_rates\\?.* → 200$`),
      new RegExp(`^GET /api/experiments/${EXPERIMENT}/recent_logs\\?.* → 200$`),
      new RegExp(`^GET /api/experiments/${EXPERIMENT}/experiment_profiles/running → 200$`),
    ]) {
      expect(called(route)).not.toEqual([]);
    }
    expect(problemsIn("overview")).toEqual([]);
  });

  test("Pioreactors: start stirring (a real pio run stirring), change its RPM, stop it — each on MQTT", async () => {
    step("pioreactors");
    await page.goto(`${leader.url}/pioreactors`);
    await page.getByText("Active Pioreactors").waitFor();
    await page.getByText(UNIT, { exact: true }).first().waitFor();
    for (const route of [/^GET \/api\/jobs\/descriptors → 200$/, /^GET \/api\/settings\/descriptors → 200$/, /^GET \/api\/experiments\/e2e-exp\/workers → 200$/]) {
      expect(called(route)).not.toEqual([]);
    }
    await shot("pioreactors");

    // Start.
    let mark = leader.messages.length;
    let dialog = await controlDialog();
    const stirring = activity(dialog, "Stirring");
    await stirring.start.click();
    const stateTopic = `pioreactor/${UNIT}/${EXPERIMENT}/stirring/$state`;
    await waitFor("stirring to be ready", () => since(mark, stateTopic).includes("ready"));
    expect(since(mark, stateTopic).slice(0, 2)).toEqual(["init", "ready"]);
    expect(called(/^PATCH \/api\/workers\/leader\/jobs\/run\/job_name\/stirring\/experiments\/e2e-exp → 202$/)).toHaveLength(1);
    const job = (await runningJobs()).find((j) => j.job_name === "stirring");
    expect(job).toBeDefined();
    const cmdline = fs.readFileSync(`/proc/${job?.pid}/cmdline`, "utf8").split("\0");
    expect(cmdline).toEqual(expect.arrayContaining([DIST_PIO, "run", "stirring"]));
    await chipSays(stirring.chip, "On");
    await shot("stirring-started");

    // Change the RPM on the Settings tab.
    mark = leader.messages.length;
    await dialog.getByRole("tab", { name: "Settings" }).click();
    const rpmTitle = dialog.getByText("Target RPM", { exact: true });
    const rpmInput = rpmTitle.locator("xpath=following::input[1]");
    await rpmInput.waitFor();
    await page.waitForFunction((el) => !(el as { disabled: boolean }).disabled, await rpmInput.elementHandle());
    await rpmInput.fill("650");
    await rpmTitle.locator("xpath=following::button[normalize-space()='Update'][1]").click();
    const rpmTopic = `pioreactor/${UNIT}/${EXPERIMENT}/stirring/target_rpm`;
    await waitFor("target_rpm/set", () => since(mark, `${rpmTopic}/set`).length > 0);
    expect(Number(since(mark, `${rpmTopic}/set`)[0])).toBe(650);
    await waitFor("the job to publish target_rpm 650", () => since(mark, rpmTopic).some((v) => Number(v) === 650));
    await shot("stirring-rpm-650");

    // Stop on the Activities tab.
    mark = leader.messages.length;
    await dialog.getByRole("tab", { name: "Activities" }).click();
    dialog = await controlDialog();
    await activity(dialog, "Stirring").stop.click();
    await waitFor("$state/set disconnected", () => since(mark, `${stateTopic}/set`).includes("disconnected"));
    await waitFor("stirring to disconnect", () => since(mark, stateTopic).includes("disconnected"));
    await waitFor("the stirring process to exit", () => {
      try {
        process.kill(job?.pid as number, 0);
        return false;
      } catch {
        return true;
      }
    });
    await chipSays(activity(dialog, "Stirring").chip, "Off");
    await shot("stirring-stopped");
    await page.keyboard.press("Escape");
    expect(problemsIn("pioreactors")).toEqual([]);
  });

  test("experiment profiles: create (upload), edit, run, stop, delete", async () => {
    step("profiles");
    const file = path.join(leader.dot, "experiment_profiles", "e2e_profile.yaml");
    await page.goto(`${leader.url}/experiment-profiles`);
    await page.getByText("Available profiles").waitFor();
    await waitFor("GET /api/experiment_profiles", () => called(/^GET \/api\/experiment_profiles → 200$/).length > 0);

    // Create.
    await page.getByText("Create new profile").click();
    await page.getByText("Create Experiment Profile").waitFor();
    await page.getByLabel("Filename").fill("e2e_profile");
    await page.locator("textarea").fill(PROFILE_V1);
    await shot("profile-new");
    await page.getByRole("button", { name: /Save/ }).click();
    await waitFor("the profile file", () => fs.existsSync(file));
    expect(fs.readFileSync(file, "utf8")).toBe(PROFILE_V1);
    await waitFor("the POST's answer", () => called(/^POST \/api\/experiment_profiles → 2\d\d$/).length === 1);
    await page.waitForURL(/\/experiment-profiles/);

    // Edit.
    await page.goto(`${leader.url}/experiment-profiles/e2e_profile.yaml/edit`);
    const editor = page.locator("textarea");
    await expect(editor.inputValue()).resolves.toContain("e2e profile started");
    const v2 = (await editor.inputValue()).replace("created by the UI test", "edited by the UI test");
    await editor.fill(v2);
    await page.getByRole("button", { name: /Save/ }).click();
    await waitFor("the edited profile", () => fs.readFileSync(file, "utf8").includes("edited by the UI test"));
    await shot("profile-edited");

    // Run.
    await page.goto(`${leader.url}/experiment-profiles`);
    await page.getByText("Available profiles").waitFor();
    await page.getByText("e2e profile", { exact: false }).first().waitFor();
    await page.getByRole("button", { name: /Run profile/ }).click();
    await page.getByText("Profiles running").waitFor();
    await waitFor("the profile to run", () => leader.messages.some((m) => /\/logs\//.test(m.topic) && m.payload.toString().includes("e2e profile started")));
    const running = async () => (await leader.api("GET", `/api/experiments/${EXPERIMENT}/experiment_profiles/running`)).json as unknown[];
    expect((await running()).length).toBe(1);
    await page.getByRole("button", { name: /Stop/ }).first().waitFor();
    await shot("profile-running");

    // Stop.
    await page.getByRole("button", { name: /^Stop/ }).first().click();
    const confirm = page.locator(".MuiDialog-paper");
    if (await confirm.isVisible().catch(() => false)) await confirm.getByRole("button", { name: /Stop/ }).last().click();
    await waitFor("no running profile", async () => (await running()).length === 0);
    await page.getByText("No profiles are currently running.").waitFor();
    await shot("profile-stopped");

    // Delete.
    await page.getByRole("button", { name: "delete profile" }).click();
    const dialog = page.locator(".MuiDialog-paper");
    if (await dialog.isVisible().catch(() => false)) await dialog.getByRole("button", { name: /Delete/ }).last().click();
    await waitFor("the profile file to go", () => !fs.existsSync(file));
    await shot("profile-deleted");
    expect(problemsIn("profiles")).toEqual([]);
  });

  test("config: edit config.ini and save (file changed, history row written)", async () => {
    step("config");
    const file = path.join(leader.dot, "config.ini");
    const historyRows = () => {
      const db = new Database(path.join(leader.dot, "storage", "pioreactor.sqlite"), { readonly: true });
      try {
        return db.prepare("SELECT filename, data FROM config_files_histories ORDER BY timestamp").all() as Array<{ filename: string; data: string }>;
      } finally {
        db.close();
      }
    };
    const before = historyRows().length;
    await page.goto(`${leader.url}/config`);
    const editor = page.locator("textarea");
    await waitFor("config.ini in the editor", async () => (await editor.inputValue()).includes("[mqtt]"));
    const edited = `${(await editor.inputValue()).trimEnd()}\n\n[e2e]\nedited_by=ui-test\n`;
    await editor.fill(edited);
    await shot("config-edited");
    await page.getByRole("button", { name: /Save/ }).click();
    await waitFor("config.ini on disk to change", () => fs.readFileSync(file, "utf8").includes("edited_by=ui-test"));
    await waitFor("a history row", () => historyRows().length > before);
    const last = historyRows().at(-1);
    expect(last?.filename).toBe("config.ini");
    expect(last?.data).toContain("edited_by=ui-test");
    await page.waitForTimeout(1000);
    await shot("config-saved");
    expect(problemsIn("config")).toEqual([]);
  });

  test("logs page", async () => {
    step("logs");
    await page.goto(`${leader.url}/logs`);
    await waitFor("GET logs", () => called(new RegExp(`^GET /api/experiments/${EXPERIMENT}/logs\\?.* → 200$`)).length > 0);
    // Stored by mqtt_to_db_streaming from the steps before: the stirring job's and the profile's lines.
    await page.getByText("e2e profile started").first().waitFor();
    await page.getByText("Ready.").first().waitFor();
    await shot("logs");
    expect(problemsIn("logs")).toEqual([]);
  });

  test("no failed API calls or console errors anywhere", () => {
    expect(s.problems.map((p) => `${p.page}: [${p.kind}] ${p.text}`)).toEqual([]);
  });
});
