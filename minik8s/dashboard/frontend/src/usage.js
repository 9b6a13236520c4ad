// Node usage on the overview: CPU and memory from the metrics API beside each node's
// allocatable and capacity, as numbers and as a bar that carries its percentage in text (never
// colour alone). Live from /api/usage; without the metrics API: "usage unavailable".
import { stream } from "./api.js";
import { h } from "./dom.js";

const UNITS = [["Gi", 1024 ** 3], ["Mi", 1024 ** 2], ["Ki", 1024]];

export function cpuText(millis) {
  if (millis === null || millis === undefined) return "?";
  return millis % 1000 === 0 ? `${millis / 1000}` : `${millis}m`;
}

export function memoryText(bytes) {
  if (bytes === null || bytes === undefined) return "?";
  for (const [unit, size] of UNITS) if (bytes >= size) return `${Math.round(bytes / size)}${unit}`;
  return `${bytes}`;
}

function bar(resource, name, r, text) {
  if (r.usage === null || r.usage === undefined) return h("td", { "data-usage": resource }, "no metrics yet for this node");
  const pct = r.percent ?? 0;
  const label = `${text(r.usage)} of ${text(r.allocatable)} allocatable (${pct}%), capacity ${text(r.capacity)}`;
  return h("td", { "data-usage": resource, "data-percent": String(pct) },
    h("div", { class: "usage" },
      h("span", { class: `bar${pct >= 90 ? " high" : ""}`, role: "img", "aria-label": `${name} ${resource} ${pct}% of allocatable` },
        h("span", { class: "fill", style: `width:${Math.min(100, pct)}%` })),
      h("span", { class: "pct" }, `${pct}%${pct >= 90 ? " ⚠ high" : ""}`)),
    h("div", { class: "hint" }, label));
}

export function usagePanel(main) {
  const note = h("p", { class: "hint", id: "usage-note", "aria-live": "polite" }, "reading the metrics API…");
  const body = h("tbody");
  const table = h("table", { id: "usage", hidden: true },
    h("caption", { class: "sr-only" }, "CPU and memory usage per node"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Node"), h("th", { scope: "col" }, "CPU (cores)"), h("th", { scope: "col" }, "Memory"), h("th", { scope: "col" }, "Window"))),
    body);
  main.append(h("section", { class: "panel" }, h("h2", {}, "Node usage (metrics.k8s.io)"), note, h("div", { class: "scroll" }, table)));
  const source = stream("/api/usage", {
    usage: (u) => {
      if (!u.available) {
        table.hidden = true;
        note.textContent = `usage unavailable: ${u.reason}`;
        return;
      }
      table.hidden = false;
      note.textContent = `live from the metrics API; the percentage is of allocatable (as kubectl top)`;
      body.replaceChildren(...u.nodes.map((n) => h("tr", { "data-name": n.name },
        h("th", { scope: "row" }, n.name),
        bar("cpu", n.name, n.cpu, cpuText),
        bar("memory", n.name, n.memory, memoryText),
        h("td", {}, n.window || ""))));
    },
  });
  return { close: () => source.close() };
}
