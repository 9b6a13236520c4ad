// A live table: the apiserver's Table (kubectl's columns) from a watch-backed stream, kept up
// to date event by event, rendered at most once per animation frame. Sortable by any column;
// filtered by a label selector (sent to the apiserver, as `kubectl get -l`).
import { stream, statusMessage } from "./api.js";
import { age, h, statusBadge } from "./dom.js";

const PAGE_ROWS = 200;
const BIG_TABLE = 500;
const BIG_TABLE_MS = 250;
const STATUS_COLUMNS = new Set(["Status", "Phase", "Type", "Ready"]);

function uidOf(row) {
  const m = (row.object || {}).metadata || {};
  return m.uid || `${m.namespace || ""}/${m.name || ""}`;
}

// The live tables of a page share one stream (browsers allow six HTTP/1.1 connections to a
// host): tables made in the same tick join one hub, which opens the stream in a microtask.
let hub = null;

class Hub {
  constructor() {
    this.tables = new Map();
    this.source = null;
    queueMicrotask(() => this.open());
  }

  add(table) {
    this.tables.set(table.opts.plural, table);
  }

  open() {
    if (this.source) this.source.close();
    const q = new URLSearchParams();
    let namespace = null;
    for (const [plural, t] of this.tables) {
      q.append("r", plural);
      if (t.selector) q.set(`labelSelector.${plural}`, t.selector);
      namespace = namespace || t.opts.namespace;
    }
    if (namespace) q.set("namespace", namespace);
    const to = (name) => (d) => {
      const t = this.tables.get(d.resource);
      if (t) t[name](d);
    };
    this.source = stream(`/api/watch?${q}`, { snapshot: to("onSnapshot"), change: to("onChange"), failure: to("onFailure") },
      (s) => window.dispatchEvent(new CustomEvent("conn", { detail: s })));
  }

  close() {
    if (this.source) this.source.close();
    if (hub === this) hub = null;
  }
}

export class LiveTable {
  // opts: {plural, title, namespace, linkOf(row) -> href|null, onRows(rows), wide}
  constructor(container, opts) {
    this.opts = opts;
    this.rows = new Map();
    this.columns = [];
    this.sortBy = null;
    this.sortDir = 1;
    this.selector = "";
    this.pending = false;
    this.section = h("section", { class: "panel", "aria-label": opts.title });
    const id = `sel-${opts.plural}`;
    this.count = h("span", { class: "count", "aria-live": "polite" });
    this.error = h("p", { class: "error", role: "alert", hidden: true });
    this.filter = h("input", {
      id, type: "search", placeholder: "app=web,tier!=db", autocomplete: "off",
      "aria-describedby": `${id}-hint`,
    });
    this.filter.addEventListener("change", () => this.restart(this.filter.value.trim()));
    this.table = h("table", { "data-resource": opts.plural });
    this.section.append(
      h("div", { class: "panel-head" },
        h("h2", {}, opts.title, " ", this.count),
        h("label", { for: id, class: "filter" }, "Label selector ",
          this.filter, h("span", { id: `${id}-hint`, class: "sr-only" }, "as kubectl get -l; press Enter"))),
      this.error,
      h("div", { class: "scroll" }, this.table));
    container.append(this.section);
    this.timer = setInterval(() => this.schedule(), 10000);
    this.restart("");
  }

  restart(selector) {
    this.selector = selector;
    if (!this.hub) {
      this.hub = hub || (hub = new Hub());
      this.hub.add(this);
    } else {
      this.hub.open();
    }
  }

  onSnapshot(d) {
    const t = d.table;
    this.columns = t.columnDefinitions || this.columns;
    this.rows = new Map((t.rows || []).map((r) => [uidOf(r), r]));
    this.error.hidden = true;
    this.schedule();
  }

  onChange(ev) {
    const t = ev.object || {};
    if (t.columnDefinitions && t.columnDefinitions.length) this.columns = t.columnDefinitions;
    for (const r of t.rows || []) {
      if (ev.type === "DELETED") this.rows.delete(uidOf(r));
      else this.rows.set(uidOf(r), r);
    }
    this.schedule();
  }

  onFailure(s) {
    this.error.textContent = statusMessage(s, s.code);
    this.error.hidden = false;
  }

  close() {
    clearInterval(this.timer);
    this.hub.close();
  }

  // At most one render per frame; a large table (churning hundreds of pods a second) at most
  // every BIG_TABLE_MS, so the page stays responsive.
  schedule() {
    if (this.pending) return;
    this.pending = true;
    const wait = this.rows.size > BIG_TABLE ? Math.max(0, (this.lastRender || 0) + BIG_TABLE_MS - performance.now()) : 0;
    setTimeout(() => requestAnimationFrame(() => {
      this.pending = false;
      this.lastRender = performance.now();
      this.render();
    }), wait);
  }

  visibleColumns() {
    return this.columns
      .map((c, i) => ({ ...c, index: i }))
      .filter((c) => c.priority === 0 || c.priority === undefined || this.opts.wide);
  }

  sorted() {
    const rows = [...this.rows.values()];
    if (this.sortBy === null) {
      // namespace/name, compared as plain strings (localeCompare is too slow for thousands)
      const key = (r) => r._key || (r._key = `${r.object?.metadata?.namespace || ""}/${r.object?.metadata?.name || ""}`);
      return rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    }
    const i = this.sortBy, dir = this.sortDir;
    const isAge = this.columns[i]?.name === "Age";
    return rows.sort((a, b) => {
      if (isAge) {
        const at = Date.parse(a.object?.metadata?.creationTimestamp || 0), bt = Date.parse(b.object?.metadata?.creationTimestamp || 0);
        return (bt - at) * dir;
      }
      const x = a.cells[i], y = b.cells[i];
      if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
      return String(x).localeCompare(String(y), undefined, { numeric: true }) * dir;
    });
  }

  render() {
    const cols = this.visibleColumns();
    const showNs = !this.opts.namespace && this.opts.namespaced !== false;
    const head = h("tr", {},
      showNs ? h("th", { scope: "col" }, "Namespace") : null,
      cols.map((c) => {
        const sorted = this.sortBy === c.index;
        const button = h("button", { type: "button", class: "sort", title: c.description || c.name }, c.name,
          sorted ? (this.sortDir > 0 ? " ▲" : " ▼") : "");
        button.addEventListener("click", () => {
          this.sortDir = sorted ? -this.sortDir : 1;
          this.sortBy = c.index;
          this.render();
        });
        return h("th", { scope: "col", "aria-sort": sorted ? (this.sortDir > 0 ? "ascending" : "descending") : "none" }, button);
      }));
    const all = this.sorted();
    const now = Date.now();
    const body = document.createElement("tbody");
    const limit = this.limit || PAGE_ROWS;
    for (const row of all.slice(0, limit)) {
      const md = row.object?.metadata || {};
      const tr = h("tr", { "data-name": md.name || "", "data-namespace": md.namespace || "" });
      if (showNs) tr.append(h("td", {}, md.namespace || ""));
      for (const c of cols) {
        let value = row.cells[c.index];
        if (c.name === "Age") value = age(md.creationTimestamp, now);
        let cell;
        if (c.name === "Name") {
          const href = this.opts.linkOf ? this.opts.linkOf(row) : null;
          cell = href ? h("a", { href, "data-link": true }, String(value)) : String(value);
        } else if (STATUS_COLUMNS.has(c.name)) {
          cell = statusBadge(value);
        } else {
          cell = String(value ?? "");
        }
        tr.append(h(c.name === "Name" ? "th" : "td", c.name === "Name" ? { scope: "row" } : {}, cell));
      }
      body.append(tr);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    this.table.replaceChildren(thead, body);
    this.count.textContent = all.length > limit ? `(${limit} of ${all.length} shown)` : `(${all.length})`;
    if (all.length > limit) {
      const more = h("button", { type: "button", class: "more" }, `Show ${Math.min(PAGE_ROWS, all.length - limit)} more`);
      more.addEventListener("click", () => {
        this.limit = limit + PAGE_ROWS;
        this.render();
      });
      const foot = document.createElement("tfoot");
      foot.append(h("tr", {}, h("td", { colspan: String(cols.length + 1) }, more)));
      this.table.append(foot);
    }
    if (this.opts.onRows) this.opts.onRows(all);
    if (!this.painted && all.length) {
      this.painted = true;
      performance.mark(`rows:${this.opts.plural}`); // the first meaningful paint (bench.dashboard)
    }
  }
}
