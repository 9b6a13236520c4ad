// One object: its conditions, owners, Events; YAML view and edit; scale, rollout restart,
// delete (with confirmation). A pod's page adds its log stream and an exec terminal.
import { getJSON, getText, send, statusMessage, stream } from "./api.js";
import { age, h, link, params, statusBadge } from "./dom.js";
import { openTerminal } from "./terminal.js";

const SCALABLE = new Set(["deployments", "replicasets", "statefulsets", "replicationcontrollers"]);
const RESTARTABLE = new Set(["deployments", "daemonsets", "statefulsets"]);
const PLURAL = { Deployment: "deployments", ReplicaSet: "replicasets", StatefulSet: "statefulsets",
  DaemonSet: "daemonsets", Job: "jobs", CronJob: "cronjobs", Node: "nodes", ReplicationController: "replicationcontrollers" };

function ownerLinks(obj) {
  const ns = obj.metadata.namespace || "-";
  return (obj.metadata.ownerReferences || []).map((o) => {
    const plural = PLURAL[o.kind];
    return h("li", {}, plural ? link(`/object?r=${plural}&ns=${encodeURIComponent(ns)}&name=${encodeURIComponent(o.name)}`, `${o.kind}/${o.name}`) : `${o.kind}/${o.name}`);
  });
}

function conditionsTable(obj) {
  const conditions = (obj.status || {}).conditions || [];
  if (!conditions.length) return h("p", {}, "No conditions.");
  return h("table", {}, h("thead", {}, h("tr", {}, ["Type", "Status", "Reason", "Message", "Last transition"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, conditions.map((c) => h("tr", {}, h("th", { scope: "row" }, c.type), h("td", {}, statusBadge(c.status)), h("td", {}, c.reason || ""), h("td", {}, c.message || ""), h("td", {}, age(c.lastTransitionTime))))));
}

function eventsTable(events) {
  if (!events.length) return h("p", {}, "No Events.");
  return h("table", {}, h("thead", {}, h("tr", {}, ["Type", "Reason", "Age", "From", "Message"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, events.map((e) => h("tr", {}, h("td", {}, statusBadge(e.type)), h("td", {}, e.reason), h("td", {}, age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp)), h("td", {}, (e.source || {}).component || e.reportingComponent || ""), h("td", {}, e.message || "")))));
}

function alertBox() {
  return h("p", { class: "error", role: "alert", hidden: true });
}

function show(box, text, ok = false) {
  box.textContent = text;
  box.className = ok ? "notice" : "error";
  box.hidden = false;
}

function yamlEditor(plural, ns, name) {
  const area = h("textarea", { id: "yaml", class: "yaml", spellcheck: "false", "aria-label": "YAML" });
  const result = alertBox();
  const load = async () => {
    const r = await getText(`/api/yaml/${plural}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
    area.value = r.body;
  };
  const save = h("button", { type: "button", onclick: async () => {
    const r = await send("PUT", `/api/yaml/${plural}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, area.value, "application/yaml");
    if (r.ok) { show(result, "Saved.", true); load(); } else show(result, statusMessage(r.body, r.status));
  } }, "Save YAML");
  load();
  return h("details", { class: "panel" }, h("summary", {}, "YAML (view and edit)"), area, h("div", {}, save, h("button", { type: "button", onclick: load }, "Reload")), result);
}

function actionsBar(plural, ns, name, obj) {
  const result = alertBox();
  result.id = "action-result";
  const bar = h("div", { class: "actions", role: "group", "aria-label": "Actions" });
  const base = `${plural}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  if (SCALABLE.has(plural)) {
    const input = h("input", { id: "replicas", type: "number", min: "0", max: "10000", value: (obj.spec || {}).replicas ?? 1, style: "width:6em" });
    bar.append(h("label", { for: "replicas" }, "Replicas "), input,
      h("button", { type: "button", id: "scale", onclick: async () => {
        const r = await send("POST", `/api/scale/${base}`, { replicas: Number(input.value) });
        if (r.ok) show(result, `Scaled to ${r.body.spec?.replicas ?? input.value} replicas.`, true);
        else show(result, statusMessage(r.body, r.status));
      } }, "Scale"));
  }
  if (RESTARTABLE.has(plural)) {
    bar.append(h("button", { type: "button", id: "restart", onclick: async () => {
      const r = await send("POST", `/api/restart/${base}`);
      show(result, r.ok ? "Rollout restarted." : statusMessage(r.body, r.status), r.ok);
    } }, "Rollout restart"));
  }
  if (plural === "deployments") {
    bar.append(h("button", { type: "button", id: "undo", onclick: async () => {
      const r = await send("POST", `/api/undo/${base}`);
      show(result, r.ok ? "Rolled back to the previous revision." : statusMessage(r.body, r.status), r.ok);
    } }, "Rollout undo"));
  }
  const dialog = h("dialog", { "aria-labelledby": "confirm-title" },
    h("h2", { id: "confirm-title" }, `Delete ${plural}/${name}?`),
    h("p", {}, "This cannot be undone."),
    h("form", { method: "dialog" },
      h("button", { value: "cancel" }, "Cancel"), " ",
      h("button", { value: "delete", class: "danger", id: "confirm-delete" }, "Delete")));
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    const r = await send("POST", `/api/delete/${base}`);
    show(result, r.ok ? "Deletion requested." : statusMessage(r.body, r.status), r.ok);
  });
  bar.append(h("button", { type: "button", class: "danger", id: "delete", onclick: () => dialog.showModal() }, "Delete…"), dialog);
  return [bar, result];
}

async function header(main, plural, ns, name) {
  const r = await getJSON(`/api/object/${plural}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
  if (!r.ok) {
    main.append(h("h1", {}, `${plural}/${name}`), h("p", { class: "error", role: "alert" }, statusMessage(r.body, r.status)));
    return null;
  }
  const { object: obj, events } = r.body;
  const labels = Object.entries(obj.metadata.labels || {}).map(([k, v]) => h("li", { class: "label" }, `${k}=${v}`));
  main.append(
    h("h1", {}, `${obj.kind} ${obj.metadata.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata.name}`),
    h("dl", { class: "facts" },
      h("dt", {}, "Created"), h("dd", {}, `${age(obj.metadata.creationTimestamp)} ago`),
      h("dt", {}, "Labels"), h("dd", {}, labels.length ? h("ul", { class: "labels" }, labels) : "none"),
      h("dt", {}, "Owners"), h("dd", {}, obj.metadata.ownerReferences ? h("ul", {}, ownerLinks(obj)) : "none")),
    ...actionsBar(plural, ns, name, obj),
    h("section", { class: "panel" }, h("h2", {}, "Conditions"), conditionsTable(obj)),
    h("section", { class: "panel" }, h("h2", {}, "Events"), eventsTable(events)));
  if (plural === "secrets") {
    const values = h("dl", { class: "facts" }, Object.keys(obj.data || {}).map((k) => [h("dt", {}, k), h("dd", {}, "•••• (hidden)")]));
    const result = alertBox();
    main.append(h("section", { class: "panel" }, h("h2", {}, "Values"), values,
      h("button", { type: "button", onclick: async () => {
        const s = await send("POST", `/api/reveal/secrets/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
        if (!s.ok) return show(result, statusMessage(s.body, s.status));
        values.replaceChildren(...Object.entries(s.body.data || {}).map(([k, v]) => [h("dt", {}, k), h("dd", {}, h("code", {}, atob(v)))]).flat());
      } }, "Reveal values"), result));
  }
  main.append(yamlEditor(plural, ns, name));
  return obj;
}

export async function objectPage(main) {
  const p = params();
  await header(main, p.get("r"), p.get("ns") || "-", p.get("name"));
  return [];
}

export async function podPage(main) {
  const p = params();
  const ns = p.get("ns"), name = p.get("name");
  const pod = await header(main, "pods", ns, name);
  if (!pod) return [];
  const containers = (pod.spec.containers || []).map((c) => c.name);
  const choose = h("select", { id: "container" }, containers.map((c) => h("option", { value: c }, c)));
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const out = h("pre", { id: "log", class: "log", tabindex: "0", "aria-label": "Log", "aria-live": "off" });
  const note = h("p", { class: "hint", "aria-live": "polite" });
  let source = null;
  const start = () => {
    if (source) source.close();
    out.textContent = "";
    const q = new URLSearchParams({ container: choose.value, follow: follow.checked ? "true" : "false", tailLines: "500" });
    source = stream(`/api/log/${encodeURIComponent(ns)}/${encodeURIComponent(name)}?${q}`, {
      lines: (lines) => {
        out.append(lines.join("\n") + "\n");
        if (out.childNodes.length > 2000) out.firstChild.remove();
        out.scrollTop = out.scrollHeight;
      },
      end: (e) => { note.textContent = e.message; source.close(); },
      failure: (s) => { note.textContent = statusMessage(s, s.code); source.close(); },
    });
  };
  choose.addEventListener("change", start);
  follow.addEventListener("change", start);
  main.append(h("section", { class: "panel" }, h("h2", {}, "Logs"),
    h("div", { class: "actions" }, h("label", { for: "container" }, "Container "), choose, " ",
      h("label", {}, follow, " Follow")), out, note));
  start();
  const termBox = h("div", { id: "terminal", class: "terminal" });
  const command = h("input", { id: "exec-command", value: "sh", "aria-label": "Command" });
  main.append(h("section", { class: "panel" }, h("h2", {}, "Exec"),
    h("div", { class: "actions" }, h("label", { for: "exec-command" }, "Command "), command,
      h("button", { type: "button", id: "exec-start", onclick: () => openTerminal(termBox, ns, name, choose.value, command.value.split(/\s+/).filter(Boolean)) }, "Open terminal"),
      link(`/architecture?follow=${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, "Follow this pod in the architecture view")),
    termBox));
  return [{ close: () => source && source.close() }];
}
