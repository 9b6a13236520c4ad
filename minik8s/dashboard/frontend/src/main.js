// The dashboard's pages: a small router over the History API. Page URLs carry only what is
// shown (resource, namespace, name), never a credential: the session is an HttpOnly cookie.
import "./style.css";
import { closeStreams, currentSession, loadSession, send, stream } from "./api.js";
import { h } from "./dom.js";
import { PAGES } from "./pages.js";
import { objectPage, podPage } from "./details.js";
import { archPage } from "./arch.js";

const main = document.getElementById("main");
const nsSelect = document.getElementById("namespace");
const conn = document.getElementById("conn");
let live = [];

function namespace() {
  return nsSelect.value || null;
}

async function render() {
  for (const item of live) item.close();
  live = [];
  closeStreams();
  keepNamespaces();
  main.replaceChildren();
  let path = location.pathname;
  if (path === "/") path = "/overview";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  let made;
  if (PAGES[path]) made = PAGES[path](main, namespace());
  else if (path === "/object") made = await objectPage(main);
  else if (path === "/pod") made = await podPage(main);
  else if (path === "/architecture") made = archPage(main);
  else made = [main.append(h("h1", {}, "Not found")) || []].flat();
  live = made || [];
  document.title = `${(main.querySelector("h1") || {}).textContent || "minik8s"} · minik8s dashboard`;
}

function navigate(href) {
  history.pushState(null, "", href);
  render();
  main.focus();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  document.getElementById("nav").classList.remove("open");
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

// The namespace menu follows the cluster's namespaces live.
let nsSource = null;
function keepNamespaces() {
  if (nsSource && nsSource.readyState !== 2) return;
  const names = new Set();
  const refresh = () => {
    const chosen = nsSelect.value;
    nsSelect.replaceChildren(h("option", { value: "" }, "all namespaces"), ...[...names].sort().map((n) => h("option", { value: n }, n)));
    nsSelect.value = names.has(chosen) ? chosen : "";
  };
  nsSource = new EventSource("/api/watch?r=namespaces");
  nsSource.addEventListener("snapshot", (e) => {
    names.clear();
    for (const r of JSON.parse(e.data).table.rows || []) names.add(r.object.metadata.name);
    refresh();
  });
  nsSource.addEventListener("change", (e) => {
    const ev = JSON.parse(e.data);
    for (const r of ev.object.rows || []) ev.type === "DELETED" ? names.delete(r.object.metadata.name) : names.add(r.object.metadata.name);
    refresh();
  });
  nsSource.addEventListener("failure", () => nsSource.close());
}
nsSelect.addEventListener("change", render);

window.addEventListener("conn", (e) => {
  const s = e.detail;
  conn.textContent = s.state === "live" ? "● live" : `⟳ ${s.state}${s.message ? ": " + s.message : ""}`;
  conn.dataset.state = s.state;
});

document.getElementById("menu").addEventListener("click", (e) => {
  const nav = document.getElementById("nav");
  nav.classList.toggle("open");
  e.currentTarget.setAttribute("aria-expanded", String(nav.classList.contains("open")));
});

document.getElementById("signout").addEventListener("click", async () => {
  await send("POST", "/logout");
  location.assign("/login");
});

(async () => {
  const s = await loadSession();
  if (!s) return;
  document.getElementById("who").textContent = `signed in as ${s.user}`;
  void currentSession;
  void stream;
  render();
})();
