/**
 * A hand-written SVG chart for simulated runs: panels stacked over one shared time axis (hours
 * since the start), each with its own y axis, grid, title, units and legend. Series are polylines
 * (or steps); events are short vertical ticks. No chart library: the output is plain SVG that a
 * browser, an image viewer or a Markdown preview shows as is.
 *
 * Long series are reduced per pixel column to first/min/max/last, which keeps every spike and
 * every dip a person could see while keeping the file small (a week at 5 s is 120 000 points).
 */

export interface Series {
  label: string;
  color: string;
  /** [epoch ms, value], in time order. */
  points: Array<[number, number]>;
  /** Steps hold a value until the next point (settings, cumulative volumes). */
  step?: boolean;
  dashed?: boolean;
}

export interface EventTicks {
  label: string;
  color: string;
  times: number[];
}

export interface Panel {
  title: string;
  /** Unit shown on the y axis, e.g. "h⁻¹". */
  yLabel: string;
  series: Series[];
  events?: EventTicks;
  /** Force the y range (otherwise fitted to the data with a margin). */
  yMin?: number;
  yMax?: number;
}

export interface ChartSpec {
  title: string;
  subtitle?: string;
  startMs: number;
  endMs: number;
  panels: Panel[];
  width?: number;
  panelHeight?: number;
}

const MARGIN = { left: 78, right: 24, top: 92, bottom: 48 };
const PANEL_GAP = 44;

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A "nice" step (1, 2, 2.5, 5 × 10^k) giving about `target` intervals over `range`. */
export function niceStep(range: number, target = 5): number {
  if (!(range > 0) || !Number.isFinite(range)) return 1;
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return nice * mag;
}

/** Hours between x ticks: 1, 2, 3, 6, 12, 24 h … so ticks land on readable times. */
function hourStep(totalHours: number): number {
  for (const h of [0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 168]) if (totalHours / h <= 12) return h;
  return niceStep(totalHours, 10);
}

/** As many decimals as the step has (a 0.025 step labels 0.075, not 0.08). */
function formatTick(v: number, step: number): string {
  const decimals = Math.min(6, (String(Number(step.toPrecision(6))).split(".")[1] ?? "").length);
  return Number(v.toFixed(decimals)).toString();
}

/** Per pixel column: the first, lowest, highest and last point, in time order. */
export function reduceForWidth(points: Array<[number, number]>, startMs: number, endMs: number, columns: number): Array<[number, number]> {
  if (points.length <= columns * 4) return points;
  const out: Array<[number, number]> = [];
  const span = Math.max(1, endMs - startMs);
  let bucket = -1;
  let group: Array<[number, number]> = [];
  const flush = () => {
    if (group.length === 0) return;
    let lo = group[0];
    let hi = group[0];
    for (const p of group) {
      if (p[1] < lo[1]) lo = p;
      if (p[1] > hi[1]) hi = p;
    }
    const picked = [group[0], lo, hi, group[group.length - 1]].sort((a, b) => a[0] - b[0]);
    let last: [number, number] | undefined;
    for (const p of picked) {
      if (p === last) continue;
      out.push(p);
      last = p;
    }
    group = [];
  };
  for (const p of points) {
    const b = Math.floor(((p[0] - startMs) / span) * columns);
    if (b !== bucket) {
      flush();
      bucket = b;
    }
    group.push(p);
  }
  flush();
  return out;
}

function yRange(panel: Panel): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of panel.series) for (const [, v] of s.points) if (Number.isFinite(v)) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi === lo) [lo, hi] = [lo - 0.5 * Math.abs(lo || 1), hi + 0.5 * Math.abs(hi || 1)];
  const pad = (hi - lo) * 0.08;
  return [panel.yMin ?? lo - pad, panel.yMax ?? hi + pad];
}

export function renderChartSvg(spec: ChartSpec): string {
  const width = spec.width ?? 1100;
  const panelHeight = spec.panelHeight ?? 190;
  const plotW = width - MARGIN.left - MARGIN.right;
  const height = MARGIN.top + spec.panels.length * panelHeight + (spec.panels.length - 1) * PANEL_GAP + MARGIN.bottom;
  const span = Math.max(1, spec.endMs - spec.startMs);
  const x = (t: number) => MARGIN.left + ((t - spec.startMs) / span) * plotW;
  const totalHours = span / 3_600_000;
  const hStep = hourStep(totalHours);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="26" font-size="18" font-weight="bold" fill="#222">${escapeXml(spec.title)}</text>`,
  );
  if (spec.subtitle) out.push(`<text x="${MARGIN.left}" y="46" fill="#555">${escapeXml(spec.subtitle)}</text>`);

  spec.panels.forEach((panel, i) => {
    const top = MARGIN.top + i * (panelHeight + PANEL_GAP);
    const bottom = top + panelHeight;
    const [y0, y1] = yRange(panel);
    const y = (v: number) => bottom - ((v - y0) / (y1 - y0)) * panelHeight;
    out.push(`<g class="panel" data-title="${escapeXml(panel.title)}">`);
    out.push(`<rect x="${MARGIN.left}" y="${top}" width="${plotW}" height="${panelHeight}" fill="#fafafa" stroke="#bbb"/>`);
    out.push(`<text x="${MARGIN.left}" y="${top - 8}" font-size="13" font-weight="bold" fill="#222">${escapeXml(panel.title)}</text>`);
    // y grid and labels
    const yStep = niceStep(y1 - y0, 4);
    for (let v = Math.ceil(y0 / yStep) * yStep; v <= y1 + 1e-9; v += yStep) {
      const py = y(v).toFixed(1);
      out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py}" y2="${py}" stroke="#e3e3e3"/>`);
      out.push(`<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle" fill="#444">${formatTick(v, yStep)}</text>`);
    }
    const cy = (top + bottom) / 2;
    out.push(`<text transform="translate(${MARGIN.left - 54} ${cy}) rotate(-90)" text-anchor="middle" fill="#444">${escapeXml(panel.yLabel)}</text>`);
    // x grid (every panel, labels on the last)
    for (let h = 0; h <= totalHours + 1e-9; h += hStep) {
      const px = x(spec.startMs + h * 3_600_000).toFixed(1);
      out.push(`<line x1="${px}" x2="${px}" y1="${top}" y2="${bottom}" stroke="#ececec"/>`);
      if (i === spec.panels.length - 1) out.push(`<text x="${px}" y="${bottom + 16}" text-anchor="middle" fill="#444">${formatTick(h, hStep)}</text>`);
    }
    out.push(`<clipPath id="clip${i}"><rect x="${MARGIN.left}" y="${top}" width="${plotW}" height="${panelHeight}"/></clipPath>`);
    out.push(`<g clip-path="url(#clip${i})">`);
    for (const s of panel.series) {
      const pts = reduceForWidth(s.points, spec.startMs, spec.endMs, Math.round(plotW));
      if (pts.length === 0) continue;
      const coords: string[] = [];
      let prev: [number, number] | undefined;
      for (const p of pts) {
        if (s.step && prev) coords.push(`${x(p[0]).toFixed(1)},${y(prev[1]).toFixed(1)}`);
        coords.push(`${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
        prev = p;
      }
      if (s.step && prev) coords.push(`${x(spec.endMs).toFixed(1)},${y(prev[1]).toFixed(1)}`);
      out.push(
        `<polyline class="series" data-label="${escapeXml(s.label)}" data-points="${coords.length}" fill="none" stroke="${s.color}" stroke-width="1.4"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${coords.join(" ")}"/>`,
      );
    }
    if (panel.events && panel.events.times.length > 0) {
      const ticks = panel.events.times.map((t) => `M${x(t).toFixed(1)} ${bottom}v-10`).join("");
      out.push(`<path class="events" data-label="${escapeXml(panel.events.label)}" d="${ticks}" stroke="${panel.events.color}" stroke-width="1" opacity="0.7"/>`);
    }
    out.push(`</g>`);
    // legend, right-aligned above the panel
    const items: Array<{ label: string; color: string; dashed?: boolean; tick?: boolean }> = panel.series.map((s) => ({ label: s.label, color: s.color, dashed: s.dashed }));
    if (panel.events) items.push({ label: `${panel.events.label} (${panel.events.times.length})`, color: panel.events.color, tick: true });
    let lx = MARGIN.left + plotW;
    for (const item of [...items].reverse()) {
      const w = 28 + item.label.length * 6.4;
      lx -= w;
      const ly = top - 12;
      out.push(
        item.tick
          ? `<line x1="${lx + 9}" x2="${lx + 9}" y1="${ly - 5}" y2="${ly + 5}" stroke="${item.color}" stroke-width="2"/>`
          : `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${item.color}" stroke-width="2.5"${item.dashed ? ' stroke-dasharray="5 3"' : ""}/>`,
      );
      out.push(`<text x="${lx + 22}" y="${ly}" dominant-baseline="middle" fill="#333">${escapeXml(item.label)}</text>`);
    }
    out.push(`</g>`);
  });
  const lastBottom = MARGIN.top + spec.panels.length * panelHeight + (spec.panels.length - 1) * PANEL_GAP;
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${lastBottom + 36}" text-anchor="middle" fill="#222">Hours since the profile started</text>`);
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}
