/** PioProcessLauncher with real child processes: a job outlives the request that started it, and a fast failure is reported with its last line. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PioProcessLauncher } from "../../../src/leader/web/job-launcher";
import { RealClock } from "../../../src/util/clock";

describe("PioProcessLauncher", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-launcher-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A fake `pio`: argv is `run <job> <args…>`; the script gets the job name and first argument. */
  const fakePio = (name: string, body: string) => {
    const file = path.join(dir, `${name}.js`);
    fs.writeFileSync(file, `const [, , , job, arg] = process.argv;\n${body}\n`);
    return new PioProcessLauncher({ pioCommand: [process.execPath, file], serverEnv: {}, clock: new RealClock(), graceMs: 200, cwd: dir });
  };

  test("a job that keeps logging to stdout and stderr after the grace window keeps running (its output is not a pipe we stop reading)", async () => {
    const marker = path.join(dir, "survived");
    const launcher = fakePio(
      "chatty",
      `let n = 0;
       const t = setInterval(() => {
         process.stdout.write("out " + n + "\\n");
         process.stderr.write("err " + n + "\\n");
         if (++n === 20) { clearInterval(t); require("node:fs").writeFileSync(arg, "survived " + job); }
       }, 50);`,
    );
    await expect(launcher.launch({ jobName: "stirring", args: [marker], options: {}, configOverrides: [], env: {} })).resolves.toEqual({ ok: true });
    for (let i = 0; i < 60 && !fs.existsSync(marker); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.readFileSync(marker, "utf8")).toBe("survived stirring");
  });

  test("an exit during the grace window rejects with the exit code and the last line of output; exit 0 counts as started", async () => {
    const failing = fakePio("failing", `console.log("starting " + job); console.error("Error: no such thing\\n\\n"); process.exit(3);`);
    await expect(failing.launch({ jobName: "nope", args: [], options: {}, configOverrides: [], env: {} })).rejects.toThrow(
      "Command exited during startup grace window. Exit code 3. Error: no such thing",
    );
    const quick = fakePio("quick", `console.log("done");`);
    await expect(quick.launch({ jobName: "led_intensity", args: [], options: {}, configOverrides: [], env: {} })).resolves.toEqual({ ok: true });
  });
});
