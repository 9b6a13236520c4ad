// The live architecture view: the notes' diagram (control plane, one box per Node with its
// kubelet and container runtime), laid out from the live cluster, with every step moving as
// a token along its arrow (drawn on a canvas over the diagram), a side log that keeps every
// step, pause / slow motion / replay, a per-arrow traffic table (the same counts, readable
// without the animation), and "follow one pod".
import { send, statusMessage, stream } from "./api.js";
import { h, params } from "./dom.js";

const CONTROL = ["kubectl", "apiserver", "etcd", "scheduler", "controller-manager", "proxy", "dashboard", "dns", "cloud-controller-manager"];
const TOKEN_MS = 900;
const AGGREGATE_OVER = 6; // tokens in flight on one arrow before they merge into one, with a count
const LOG_KEEP = 200000; // entries kept for replay and the log (the DOM shows the last LOG_SHOW)
const LOG_SHOW = 300;
const LOG_RENDER_MS = 250; // the side log and the traffic table are redrawn at most 4 times a second
const COLORS = { request: "#0b57d0", write: "#8e24aa", watch: "#00796b", event: "#b06000" };
const SHAPES = { request: "●", write: "■", watch: "◆", event: "▲" };

const OPTIONAL = new Set(["dns", "cloud-controller-manager"]); // boxes drawn once they are seen at work

function layout(nodes, width, seen) {
  const boxes = new Map();
  const cw = 120, chh = 40;
  const put = (id, x, y, w, hh, label, group) => boxes.set(id, { id, x, y, w, h: hh, label, group });
  put("kubectl", 20, 20, cw, chh, "kubectl / clients", "client");
  put("apiserver", width / 2 - 80, 20, 160, chh, "apiserver", "cp");
  put("etcd", width - cw - 20, 20, cw, chh, "etcd", "cp");
  const row = ["scheduler", "controller-manager", "proxy", "dashboard", "dns", "cloud-controller-manager"].filter((id) => !OPTIONAL.has(id) || seen.has(id));
  const step = (width - 40) / row.length;
  row.forEach((id, i) => put(id, 20 + i * step + 4, 100, step - 8, chh, id === "proxy" ? "kube-proxies (API)" : id, "cp"));
  const cols = Math.max(1, Math.min(nodes.length, Math.floor((width - 20) / 170)));
  const nw = (width - 20) / cols - 10, nh = 90;
  nodes.forEach((n, i) => {
    const x = 20 + (i % cols) * (nw + 10), y = 180 + Math.floor(i / cols) * (nh + 10);
    const half = nw / 2 - 6, right = x + nw / 2 + 2;
    put(`node:${n.name}`, x, y, nw, nh, n.name, "node");
    put(`kubelet:${n.name}`, x + 4, y + 20, half, 30, "kubelet", "kubelet");
    put(`proxy:${n.name}`, right, y + 20, half, 30, "kube-proxy", "kubelet");
    put(`runtime:${n.name}`, x + 4, y + 55, half, 30, "runtime", "runtime");
    put(`iptables:${n.name}`, right, y + 55, half, 30, "iptables", "runtime");
  });
  const height = 180 + Math.ceil(nodes.length / cols) * (nh + 10) + 20;
  return { boxes, height: Math.max(height, 260) };
}

function center(box) {
  return [box.x + box.w / 2, box.y + box.h / 2];
}

export function archPage(main) {
  main.append(h("h1", {}, "Architecture, live"));
  let nodes = [];
  let geo = null;
  let paused = false, speed = 1;
  const log = []; // every step, never dropped (up to LOG_KEEP, then the oldest go, counted)
  let forgotten = 0;
  const counts = new Map(); // "src->dst" -> steps seen
  const flying = []; // tokens in flight: {a, b, start, kind, n}
  let followed = null;
  const seenOptional = new Set();

  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "The cluster's components and nodes");
  const canvas = h("canvas", { class: "tokens", "aria-hidden": "true" });
  const stage = h("div", { class: "stage" }, svg, canvas);
  const logList = h("ol", { class: "flowlog", id: "flowlog", "aria-label": "Steps, newest last", tabindex: "0" });
  const trafficBody = h("tbody");
  const traffic = h("table", { id: "traffic" }, h("caption", {}, "Traffic per arrow"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "From"), h("th", { scope: "col" }, "To"), h("th", { scope: "col" }, "Steps"))), trafficBody);
  const rate = h("span", { class: "hint", "aria-live": "off" });
  const state = h("span", { role: "status", "aria-live": "polite" });
  const pauseBtn = h("button", { type: "button", id: "pause", "aria-pressed": "false" }, "Pause");
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    if (!paused) renderLog();
  });
  const speedSel = h("select", { id: "speed" }, [["1", "normal speed"], ["0.25", "slow motion (¼)"], ["0.1", "slower (1/10)"]].map(([v, t]) => h("option", { value: v }, t)));
  speedSel.addEventListener("change", () => (speed = Number(speedSel.value)));
  const replayBtn = h("button", { type: "button", id: "replay" }, "Replay the last 30 s");
  replayBtn.addEventListener("click", () => {
    const since = Date.now() - 30000;
    const recent = log.filter((e) => (e.t || e.received) >= since);
    recent.forEach((e, i) => setTimeout(() => launch(e), (i * 150) / speed));
  });

  // follow one pod
  const followInput = h("input", { id: "follow-pod", placeholder: "namespace/name", autocomplete: "off" });
  const followSteps = h("ol", { id: "podflow", class: "podflow", "aria-live": "polite" });
  const followNote = h("p", { class: "hint", "aria-live": "polite" });
  let followSource = null;
  const follow = (target) => {
    if (followSource) followSource.close();
    const [ns, name] = target.includes("/") ? target.split("/", 2) : ["default", target];
    followed = { ns, name };
    followInput.value = `${ns}/${name}`;
    followSteps.replaceChildren();
    followSource = stream(`/api/podflow/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, {
      podflow: (f) => {
        if (!f.exists) { followNote.textContent = `waiting for pod ${ns}/${name} to exist`; return; }
        followNote.textContent = f.done ? "done: the pod runs" : `waiting for ${f.waitingFor}`;
        let first = null, prev = null;
        followSteps.replaceChildren(...f.steps.map((s) => {
          const t = s.when ? Date.parse(s.when) : null;
          if (t && first === null) first = t;
          const delta = t && prev ? ` (+${((t - prev) / 1000).toFixed(1)} s)` : "";
          if (t) prev = t;
          return h("li", { "data-key": s.key }, h("strong", {}, s.title), delta, " — ", s.detail);
        }));
      },
      failure: (s) => (followNote.textContent = statusMessage(s, s.code)),
    });
  };
  const runName = h("input", { id: "run-name", placeholder: "pod name", autocomplete: "off" });
  const runImage = h("input", { id: "run-image", value: "nginx", autocomplete: "off" });
  const runNote = h("p", { class: "error", role: "alert", hidden: true });
  const runBtn = h("button", { type: "button", id: "run" }, "Run and follow");
  runBtn.addEventListener("click", async () => {
    const ns = document.getElementById("namespace").value || "default";
    const name = runName.value.trim() || `flow-${Date.now() % 100000}`;
    follow(`${ns}/${name}`);
    const r = await send("POST", `/api/run/${encodeURIComponent(ns)}`, { name, image: runImage.value.trim() || "nginx" });
    runNote.hidden = r.ok;
    if (!r.ok) runNote.textContent = statusMessage(r.body, r.status);
  });
  const followBtn = h("button", { type: "button", id: "follow" }, "Follow");
  followBtn.addEventListener("click", () => followInput.value.trim() && follow(followInput.value.trim()));

  main.append(
    h("div", { class: "actions", role: "group", "aria-label": "Animation" }, pauseBtn, h("label", { for: "speed" }, "Speed "), speedSel, replayBtn, state, rate),
    h("div", { class: "arch" }, stage,
      h("aside", { class: "side" },
        h("section", { class: "panel" }, h("h2", {}, "Follow one pod"),
          h("div", { class: "actions" }, h("label", { for: "follow-pod" }, "Pod "), followInput, followBtn),
          h("div", { class: "actions" }, h("label", { for: "run-name" }, "Run "), runName, h("label", { for: "run-image" }, " image "), runImage, runBtn),
          runNote, followNote, followSteps),
        h("section", { class: "panel" }, h("h2", {}, "Steps"), logList))),
    h("section", { class: "panel" }, traffic),
    h("p", { class: "hint" }, "Tokens: ● request to the apiserver, ■ etcd write, ◆ watch delivery, ▲ a component's Event (a kubelet starting a container; a node's kube-proxy syncing its iptables rules). A number on a token: that many steps merged."));

  function draw() {
    const width = Math.max(stage.clientWidth || 900, 600);
    geo = layout(nodes, width, seenOptional);
    svg.setAttribute("viewBox", `0 0 ${width} ${geo.height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", geo.height);
    canvas.width = width;
    canvas.height = geo.height;
    const parts = [];
    const line = (a, b) => {
      const A = geo.boxes.get(a), B = geo.boxes.get(b);
      if (!A || !B) return;
      const [x1, y1] = center(A), [x2, y2] = center(B);
      parts.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" class="wire"/>`);
    };
    for (const id of CONTROL) if (id !== "apiserver" && geo.boxes.has(id)) line(id, "apiserver");
    for (const n of nodes) {
      line(`kubelet:${n.name}`, "apiserver");
      line(`proxy:${n.name}`, "apiserver");
    }
    for (const box of geo.boxes.values()) {
      const label = box.label.length > 22 ? box.label.slice(0, 21) + "…" : box.label;
      parts.push(`<g class="box ${box.group}" data-box="${escapeAttr(box.id)}"><rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" rx="6"/>` +
        `<text x="${box.x + 6}" y="${box.y + (box.group === "node" ? 15 : box.h / 2 + 5)}">${escapeText(label)}</text></g>`);
    }
    svg.innerHTML = parts.join("");
  }

  function boxOf(id) {
    if (!geo) return null;
    if (geo.boxes.has(id)) return geo.boxes.get(id);
    if (/^(kubelet|runtime|proxy|iptables):/.test(id)) return null;
    if (id === "kubelet") return null;
    return geo.boxes.get("kubectl");
  }

  function launch(e) {
    const a = boxOf(e.src), b = boxOf(e.dst);
    if (!a || !b) return;
    const key = `${a.id}->${b.id}`;
    const onArrow = flying.filter((t) => t.key === key);
    if (onArrow.length >= AGGREGATE_OVER) {
      onArrow[onArrow.length - 1].n += 1;
      return;
    }
    flying.push({ key, a, b, start: performance.now(), kind: e.kind, n: 1, mine: followed && e.name === followed.name });
  }

  function count(e) {
    const key = `${e.src}->${e.dst}`;
    counts.set(key, (counts.get(key) || 0) + 1);
  }

  function renderTraffic() {
    trafficBody.replaceChildren(...[...counts].sort((x, y) => y[1] - x[1]).map(([k, n]) => {
      const [src, dst] = k.split("->");
      return h("tr", { "data-arrow": k, "data-count": n }, h("td", {}, src), h("td", {}, dst), h("td", {}, String(n)));
    }));
  }

  function describe(e) {
    const when = new Date(e.t || e.received).toISOString().slice(11, 23);
    if (e.kind === "event" && e.dst.startsWith("iptables:")) return `${when} ▲ kube-proxy on ${e.dst.slice(9)} → iptables: ${e.reason} (sync #${e.count || 1})`;
    if (e.kind === "event") return `${when} ${e.src} → ${e.dst}: ${e.type === "Warning" ? "⚠ " : ""}${e.reason} ${e.resource}/${e.name}: ${e.message}`;
    const code = e.code ? ` → ${e.code}` : "";
    const what = `${e.resource}${e.name ? " " + (e.namespace ? e.namespace + "/" : "") + e.name : ""}`;
    return `${when} ${SHAPES[e.kind] || ""} ${e.src} → ${e.dst}: ${e.kind === "request" ? e.verb + " " : e.kind + " "}${what}${code}`;
  }

  function renderLog() {
    const shown = log.slice(-LOG_SHOW);
    logList.replaceChildren(
      ...(forgotten || log.length > LOG_SHOW ? [h("li", { class: "hint" }, `${log.length + forgotten} steps in all; the last ${shown.length} shown`)] : []),
      ...shown.map((e) => h("li", { class: `k-${e.kind}${e.code >= 400 ? " failed" : ""}`, "data-arrow": `${e.src}->${e.dst}` }, describe(e))));
    logList.scrollTop = logList.scrollHeight;
  }

  let logDirty = false, lastLogRender = 0, windowCount = 0, windowStart = performance.now();
  function receive(entries) {
    const now = Date.now();
    for (const e of entries) {
      if (OPTIONAL.has(e.src) && !seenOptional.has(e.src)) {
        seenOptional.add(e.src);
        draw();
      }
      e.received = now;
      log.push(e);
      count(e);
      if (!paused) launch(e);
    }
    if (log.length > LOG_KEEP) {
      forgotten += log.length - LOG_KEEP;
      log.splice(0, log.length - LOG_KEEP);
    }
    windowCount += entries.length;
    logDirty = true;
  }

  function frame(now) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (let i = flying.length - 1; i >= 0; i--) {
      const t = flying[i];
      const p = (now - t.start) / (TOKEN_MS / speed);
      if (p >= 1) { flying.splice(i, 1); continue; }
      const [x1, y1] = center(t.a), [x2, y2] = center(t.b);
      const x = x1 + (x2 - x1) * p, y = y1 + (y2 - y1) * p;
      ctx.fillStyle = t.mine ? "#d50000" : COLORS[t.kind] || "#333";
      ctx.font = t.n > 1 ? "bold 12px sans-serif" : "14px sans-serif";
      ctx.fillText(SHAPES[t.kind] || "●", x - 6, y + 5);
      if (t.n > 1) ctx.fillText(`×${t.n}`, x + 8, y + 5);
    }
    if (logDirty && !paused && now - lastLogRender > LOG_RENDER_MS) {
      logDirty = false;
      lastLogRender = now;
      renderLog();
      renderTraffic();
    }
    if (now - windowStart > 1000) {
      rate.textContent = `${Math.round((windowCount * 1000) / (now - windowStart))} steps/s`;
      windowCount = 0;
      windowStart = now;
    }
    raf = requestAnimationFrame(frame);
  }
  let raf = requestAnimationFrame(frame);

  draw();
  const source = stream("/api/flow", {
    hello: (hello) => (state.textContent = hello.audit ? "live: audit webhook and Events" : "live: Events only (the audit log needs cluster-wide pod watch rights)"),
    nodes: (list) => {
      nodes = list;
      draw();
      if (list.length && !performance.getEntriesByName("arch:nodes").length) performance.mark("arch:nodes");
    },
    steps: (batch) => {
      if (batch.skipped) log.push({ kind: "event", src: "dashboard", dst: "apiserver", reason: "Skipped", resource: "", name: "", message: `${batch.skipped} steps arrived faster than this page read them`, received: Date.now() });
      receive(batch.entries);
    },
    failure: (s) => (state.textContent = statusMessage(s, s.code)),
  }, (s) => s.state === "reconnecting" && (state.textContent = `reconnecting: ${s.message || ""}`));
  const onResize = () => draw();
  window.addEventListener("resize", onResize);
  const wanted = params().get("follow");
  if (wanted) follow(wanted);
  return [{ close: () => { source.close(); if (followSource) followSource.close(); cancelAnimationFrame(raf); window.removeEventListener("resize", onResize); } }];
}

function escapeText(s) {
  return String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
}
function escapeAttr(s) {
  return escapeText(s).replace(/"/g, "&quot;");
}
