// DOM building and number formats. Every value from the API reaches the page as text nodes or attribute
// values (never as markup), so a key name or an error excerpt cannot inject anything.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: h("td", {class: "num"}, "12"). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace the contents of the element with id `id`. */
export function fill(id, ...children) {
  const target = document.getElementById(id);
  target.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return target;
}

export const DASH = "—";

/** USD with every digit the API gives (6 decimals), trailing zeros trimmed down to cents: $0.0123, $1.50. */
export function usd(value) {
  if (value === null || value === undefined) return DASH;
  const [whole, decimals] = Math.abs(value).toFixed(6).split(".");
  const trimmed = decimals.replace(/0+$/, "").padEnd(2, "0");
  return `${value < 0 ? "-" : ""}$${Number(whole).toLocaleString("en-US")}.${trimmed}`;
}

export function count(value) {
  return value === null || value === undefined ? DASH : Number(value).toLocaleString("en-US");
}

export function percent(ratio) {
  return ratio === null || ratio === undefined ? DASH : `${(ratio * 100).toFixed(1)}%`;
}

export function millis(value) {
  return value === null || value === undefined ? DASH : `${Math.round(value).toLocaleString("en-US")} ms`;
}

/** A <time> element: the ISO value in `datetime`, a readable UTC form as text. Epoch seconds (the key
 * routes' created_at) are shown the same way. */
export function time(value) {
  if (value === null || value === undefined || value === "") return DASH;
  const iso = typeof value === "number" ? new Date(value * 1000).toISOString() : String(value);
  return h("time", { datetime: iso, title: iso }, iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC"));
}

/** A table with a caption, header cells with scope, and one row per item. */
export function table(caption, headers, rows, attrs) {
  return h(
    "table",
    attrs || {},
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows),
  );
}

export function empty(text) {
  return h("p", { class: "empty muted" }, text);
}
