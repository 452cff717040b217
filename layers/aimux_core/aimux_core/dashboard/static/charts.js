// Hand-written SVG charts: stacked daily bars per group, with axes, a legend, a <title> per bar for
// pointer users and the same figures as a table for screen readers. Colours come from CSS classes
// (series-0 ... series-7), so light and dark themes restyle them.

import { h, s } from "./dom.js";

export const MAX_SERIES = 7; // the rest is "other"
const WIDTH = 640;
const HEIGHT = 240;
const PAD = { top: 12, right: 12, bottom: 28, left: 64 };

/** A "nice" upper bound for an axis (1, 2 or 5 times a power of ten). */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function sums(cells) {
  const totals = new Map();
  for (const cell of cells) totals.set(cell.group, (totals.get(cell.group) || 0) + cell.value);
  return totals;
}

/** Groups by decreasing total of `cells`, ties by `tiebreak`'s totals, then by name: the order, and so
 * the colours, of every chart drawn from the same groups. */
export function rankGroups(cells, tiebreak = []) {
  const first = sums(cells);
  const second = sums(tiebreak);
  return [...first.keys()].sort((a, b) => first.get(b) - first.get(a)
    || (second.get(b) || 0) - (second.get(a) || 0) || String(a).localeCompare(String(b)));
}

/**
 * Keep the first `MAX_SERIES` groups of `ranked` and fold the others into "other".
 * `cells`: [{day, group, label, value}] -> {days, series: [{group, label, values: Map(day -> value)}]}
 */
export function toSeries(days, cells, ranked) {
  const labels = new Map();
  for (const cell of cells) labels.set(cell.group, cell.label);
  const kept = ranked.slice(0, ranked.length > MAX_SERIES + 1 ? MAX_SERIES : ranked.length);
  const series = kept.map((group) => ({ group, label: labels.get(group), values: new Map() }));
  const other = { group: "(other)", label: "other", values: new Map() };
  const index = new Map(kept.map((group, i) => [group, series[i]]));
  for (const cell of cells) {
    const target = index.get(cell.group) || other;
    target.values.set(cell.day, (target.values.get(cell.day) || 0) + cell.value);
  }
  if (other.values.size) series.push(other);
  return { days, series };
}

/**
 * A stacked bar chart into `figure`: one bar per day, one segment per series.
 * Each segment is <rect data-day data-group data-value> so what is drawn can be read back exactly.
 */
export function stackedBars(figure, { title, days, series, format }) {
  const id = figure.id + "-title";
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const dayTotals = days.map((day) => series.reduce((sum, one) => sum + (one.values.get(day) || 0), 0));
  const top = niceMax(Math.max(0, ...dayTotals));
  const slot = innerW / Math.max(days.length, 1);
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const y = (value) => PAD.top + innerH - (value / top) * innerH;

  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const value = top * f;
    return s("g", { class: "tick" },
      s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: "grid" }),
      s("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis" }, format(value)));
  });
  const labelEvery = Math.ceil(days.length / 10);
  const bars = days.map((day, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    let base = 0;
    const segments = series.map((one, k) => {
      const value = one.values.get(day) || 0;
      if (!value) return null;
      const rect = s("rect", {
        x: x.toFixed(2), y: y(base + value).toFixed(2), width: barW.toFixed(2),
        height: Math.max(0.5, y(base) - y(base + value)).toFixed(2),
        class: `series-${k % (MAX_SERIES + 1)}`,
        "data-day": day, "data-group": one.group, "data-value": String(value),
      }, s("title", {}, `${day} · ${one.label}: ${format(value)}`));
      base += value;
      return rect;
    });
    const label = i % labelEvery === 0
      ? s("text", { x: x + barW / 2, y: HEIGHT - 8, "text-anchor": "middle", class: "axis" }, day.slice(5))
      : null;
    return s("g", { class: "bar", "data-day": day, "data-total": String(dayTotals[i]) }, segments, label);
  });
  const nothing = dayTotals.every((t) => t === 0)
    ? s("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "axis" }, "no traffic in this period")
    : null;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": id, class: "chart-svg" },
    s("title", {}, title), grid, bars, nothing);
  const legend = h("ul", { class: "legend" }, series.map((one, k) =>
    h("li", { "data-group": one.group }, h("span", { class: `swatch series-${k % (MAX_SERIES + 1)}`, "aria-hidden": "true" }), one.label)));
  const rows = days.map((day, i) => h("tr", {},
    h("th", { scope: "row" }, day),
    series.map((one) => h("td", { class: "num" }, format(one.values.get(day) || 0))),
    h("td", { class: "num" }, format(dayTotals[i]))));
  const data = h("details", { class: "chart-table" }, h("summary", {}, "Show as a table"),
    h("table", {},
      h("caption", { class: "sr-only" }, title),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"),
        series.map((one) => h("th", { scope: "col" }, one.label)), h("th", { scope: "col" }, "Total"))),
      h("tbody", {}, rows)));
  figure.replaceChildren(h("figcaption", { id }, title), svg, legend, data);
}
