// The list pages: each is one or more live tables.
import { LiveTable } from "./table.js";
import { h } from "./dom.js";
import { usagePanel } from "./usage.js";

const objectHref = (plural) => (row) => {
  const m = row.object?.metadata || {};
  return `/object?r=${plural}&ns=${encodeURIComponent(m.namespace || "-")}&name=${encodeURIComponent(m.name)}`;
};
const podHref = (row) => {
  const m = row.object?.metadata || {};
  return `/pod?ns=${encodeURIComponent(m.namespace)}&name=${encodeURIComponent(m.name)}`;
};

function tables(main, ns, title, specs) {
  main.append(h("h1", {}, title));
  return specs.map(([plural, heading, extra]) =>
    new LiveTable(main, { plural, title: heading, namespace: ns, linkOf: objectHref(plural), ...(extra || {}) }));
}

export const PAGES = {
  "/overview": (main, ns) => {
    main.append(h("h1", {}, "Cluster overview"));
    const perNode = h("ul", { class: "pernode", "aria-label": "Pods per node" });
    const nodes = new LiveTable(main, { plural: "nodes", title: "Nodes", namespaced: false, wide: true, linkOf: objectHref("nodes") });
    const usage = usagePanel(main);
    main.append(h("section", { class: "panel" }, h("h2", {}, "Pods per node"), perNode));
    const pods = new LiveTable(h("div", { hidden: true }), {
      plural: "pods", title: "Pods", namespace: ns, wide: true,
      onRows: (rows) => {
        const counts = new Map();
        for (const r of rows) {
          const node = r.cells[6] || "(not scheduled)";
          counts.set(node, (counts.get(node) || 0) + 1);
        }
        perNode.replaceChildren(...[...counts].sort().map(([n, c]) => h("li", {}, h("strong", {}, n), `: ${c} pods`)));
      },
    });
    const leases = new LiveTable(main, {
      plural: "leases", title: "Component health (leader and node Leases, kube-system and kube-node-lease)",
      wide: true, linkOf: null,
    });
    return [nodes, usage, pods, leases];
  },
  "/namespaces": (main) => tables(main, null, "Namespaces", [["namespaces", "Namespaces", { namespaced: false }]]),
  "/nodes": (main) => tables(main, null, "Nodes", [["nodes", "Nodes", { namespaced: false, wide: true }]]),
  "/workloads": (main, ns) => tables(main, ns, "Workloads", [
    ["deployments", "Deployments"], ["replicasets", "ReplicaSets"], ["statefulsets", "StatefulSets"],
    ["daemonsets", "DaemonSets"], ["jobs", "Jobs"], ["cronjobs", "CronJobs"],
  ]),
  "/pods": (main, ns) => {
    main.append(h("h1", {}, "Pods"));
    return [new LiveTable(main, { plural: "pods", title: "Pods", namespace: ns, wide: true, linkOf: podHref })];
  },
  "/services": (main, ns) => tables(main, ns, "Services", [["services", "Services", { wide: true }], ["endpoints", "Endpoints"]]),
  "/config": (main, ns) => tables(main, ns, "Config", [["configmaps", "ConfigMaps"], ["secrets", "Secrets"]]),
  "/events": (main, ns) => tables(main, ns, "Events (live)", [["events", "Events", { wide: true }]]),
};
