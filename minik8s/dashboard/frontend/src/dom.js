// Small DOM helpers: every text goes through textContent (never innerHTML with data).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function age(timestamp, now = Date.now()) {
  if (!timestamp) return "<unknown>";
  let s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  let m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? (s % 60) + "s" : ""}`;
  if (m < 180) return `${m}m`;
  let hr = Math.floor(m / 60);
  if (hr < 8) return `${hr}h${m % 60 ? (m % 60) + "m" : ""}`;
  if (hr < 48) return `${hr}h`;
  return `${Math.floor(hr / 24)}d`;
}

const GOOD = /^(Running|Ready|Active|Bound|True|Normal|Succeeded|Completed|Available)$/;
const BAD = /(Error|Fail|BackOff|NotReady|Warning|Evicted|OOMKilled|Unknown|Terminating|ErrImage|Invalid|Lost)/;
const WAIT = /^(Pending|ContainerCreating|Init|PodInitializing|Waiting|SchedulingGated|Progressing)/;

// Status is never colour alone: a symbol and the word, plus the colour class.
export function statusBadge(text) {
  const t = String(text ?? "");
  let kind = "neutral", symbol = "•";
  if (BAD.test(t)) [kind, symbol] = ["bad", "✗"];
  else if (GOOD.test(t)) [kind, symbol] = ["good", "✓"];
  else if (WAIT.test(t)) [kind, symbol] = ["wait", "…"];
  return h("span", { class: `badge ${kind}` }, h("span", { "aria-hidden": "true" }, symbol + " "), t);
}

export function link(href, text) {
  return h("a", { href, "data-link": true }, text);
}

export function params() {
  return new URLSearchParams(location.search);
}
