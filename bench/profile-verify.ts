/**
 * `pio run experiment_profile verify FILE` on a generated 10,000-action profile: the whole command
 * (read, YAML 1.1 load with positions, schema, semantic rules, exit), warm in-process runs and one
 * cold child process.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/profile-verify.js [actions]
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { Command } from "commander";
import { registerRunProfileCommands } from "../src/cli/profile-cmd";

const ACTIONS = Number(process.argv[2] ?? 10_000);

function generate(actions: number): string {
  const lines = ['version: "1.0"', "experiment_profile_name: generated", "inputs:", "  rpm: 400", "pioreactors:"];
  const perJob = 100;
  const jobs = Math.ceil(actions / perJob);
  let made = 0;
  for (let j = 0; j < jobs; j++) {
    if (j % 10 === 0) lines.push(`  unit${j / 10}:`, "    jobs:");
    lines.push(`      job_${j}:`, "        actions:", "          - {type: start, t: 0s, options: {target_rpm: 400.0}}");
    made++;
    for (let i = 1; i < perJob - 1 && made < actions - 1; i++, made++) {
      const t = `${i}m`;
      if (i % 3 === 0) lines.push(`          - {type: update, t: ${t}, options: {target_rpm: "\${{ rpm + ${i} }}"}}`);
      else if (i % 3 === 1) lines.push(`          - {type: log, t: ${t}, options: {message: "step ${i} on \${{ unit() }}"}}`);
      else lines.push(`          - {type: update, t: ${t}, if: "hours_elapsed > 0.1 and action_count < 1000", options: {target_rpm: 500.0}}`);
    }
    lines.push("          - {type: stop, t: 2h}");
    made++;
  }
  return `${lines.join("\n")}\n`;
}

async function verifyInProcess(file: string): Promise<number> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  let code = -1;
  const program = new Command("pio").exitOverride();
  registerRunProfileCommands(program.command("run"), { env: process.env, cwd: process.cwd(), stdout: sink, stderr: sink, setExitCode: (c) => (code = c) });
  await program.parseAsync(["node", "pio", "run", "experiment_profile", "verify", file]);
  return code;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-verify-"));
  const file = path.join(dir, "generated.yaml");
  const text = generate(ACTIONS);
  fs.writeFileSync(file, text);
  const count = (text.match(/type: /g) ?? []).length;
  console.log(`profile: ${count} actions, ${(text.length / 1024).toFixed(0)} KiB`);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const code = await verifyInProcess(file);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (code !== 0) throw new Error(`verify failed with ${code}`);
  }
  console.log(`verify in process: first ${times[0].toFixed(0)} ms, then ${times.slice(1).map((t) => t.toFixed(0)).join(", ")} ms`);
  // Several fresh processes: a shared machine's noise shows up as spread, the median is the figure.
  const cold: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const child = spawnSync(process.execPath, [path.join(__dirname, "profile-verify.js"), "--child", file], { encoding: "utf8" });
    cold.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (child.status !== 0) throw new Error(child.stderr);
  }
  const sorted = [...cold].sort((a, b) => a - b);
  console.log(
    `verify as a fresh node process (load + verify + exit): median ${sorted[2].toFixed(0)} ms (runs ${cold.map((t) => t.toFixed(0)).join(", ")} ms)`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

if (process.argv[2] === "--child") {
  verifyInProcess(process.argv[3]).then((code) => process.exit(code));
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
