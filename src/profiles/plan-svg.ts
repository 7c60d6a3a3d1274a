/**
 * The plan as an SVG Gantt chart, written by hand (no library): one row per unit and job, a bar
 * while the job runs (start → stop), a mark per action, hollow marks for conditional ones.
 */
import { formatSeconds, type Plan, type PlanEntry } from "./plan";

const COLOURS: Record<PlanEntry["type"], string> = {
  start: "#2e7d32",
  stop: "#c62828",
  pause: "#ef6c00",
  resume: "#1565c0",
  update: "#6a1b9a",
  log: "#455a64",
  when: "#00838f",
  repeat: "#5d4037",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function planToSvg(plan: Plan): string {
  const rows: Array<{ unit: string; job: string }> = [];
  for (const e of plan.entries) if (!rows.some((r) => r.unit === e.unit && r.job === e.job)) rows.push({ unit: e.unit, job: e.job });
  const labelWidth = 220;
  const chartWidth = 900;
  const rowHeight = 28;
  const top = 40;
  const height = top + rows.length * rowHeight + 40;
  const end = plan.endSeconds > 0 ? plan.endSeconds : 1;
  const x = (s: number) => labelWidth + (s / end) * (chartWidth - 20);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + chartWidth}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(plan.name)}</title>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(plan.name)}</text>`,
  ];
  for (let i = 0; i <= 10; i++) {
    const s = (end * i) / 10;
    out.push(`<line x1="${x(s)}" y1="${top - 5}" x2="${x(s)}" y2="${height - 30}" stroke="#ddd"/>`);
    out.push(`<text x="${x(s)}" y="${height - 15}" text-anchor="middle" fill="#555">${esc(formatSeconds(s))}</text>`);
  }
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    const unitLabel = row.unit === "*" ? "all workers" : row.unit;
    out.push(`<text x="10" y="${y + 17}">${esc(`${unitLabel} · ${row.job}`)}</text>`);
    const entries = plan.entries.filter((e) => e.unit === row.unit && e.job === row.job);
    let runningSince: number | undefined;
    for (const e of entries) {
      if (e.type === "start" && runningSince === undefined) runningSince = e.atSeconds;
      if (e.type === "stop" && runningSince !== undefined) {
        out.push(`<rect x="${x(runningSince)}" y="${y + 8}" width="${Math.max(1, x(e.atSeconds) - x(runningSince))}" height="12" fill="#c8e6c9"/>`);
        runningSince = undefined;
      }
    }
    if (runningSince !== undefined) out.push(`<rect x="${x(runningSince)}" y="${y + 8}" width="${Math.max(1, x(end) - x(runningSince))}" height="12" fill="#c8e6c9"/>`);
    for (const e of entries) {
      const c = COLOURS[e.type];
      const fill = e.conditional ? "white" : c;
      out.push(
        `<circle cx="${x(e.atSeconds)}" cy="${y + 14}" r="4" fill="${fill}" stroke="${c}" stroke-width="1.5"><title>${esc(`${formatSeconds(e.atSeconds)} ${e.type} ${e.detail}${e.conditional ? " (conditional)" : ""}`)}</title></circle>`,
      );
    }
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
