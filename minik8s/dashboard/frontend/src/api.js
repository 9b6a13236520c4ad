// Talking to the dashboard process: the session (user, CSRF token), JSON calls, and live
// streams (Server-Sent Events). Every stream opened by a page is closed when the page changes.

let session = null;
const open = new Set();

export async function loadSession() {
  const r = await fetch("/api/session", { credentials: "same-origin" });
  if (r.status === 401) {
    location.assign("/login");
    return null;
  }
  session = await r.json();
  return session;
}

export function currentSession() {
  return session;
}

// A write: JSON body, the CSRF token in a header. Resolves to {ok, status, body}; a refusal's
// body is the apiserver's own Status (message, reason, causes).
export async function send(method, url, body, contentType = "application/json") {
  const r = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": contentType, "X-CSRF-Token": session ? session.csrf : "" },
    body: body === undefined ? undefined : contentType === "application/json" ? JSON.stringify(body) : body,
  });
  const text = await r.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return { ok: r.ok, status: r.status, body: parsed };
}

export async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  const body = await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, body };
}

export async function getText(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  return { ok: r.ok, status: r.status, body: await r.text() };
}

// handlers: {eventName: (data) => …}; EventSource reconnects by itself if the dashboard restarts.
export function stream(url, handlers, onState) {
  const source = new EventSource(url);
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (e) => handler(JSON.parse(e.data)));
  }
  source.addEventListener("status", (e) => onState && onState(JSON.parse(e.data)));
  source.onerror = () => onState && onState({ state: "reconnecting", message: "connection to the dashboard lost" });
  open.add(source);
  return source;
}

export function closeStreams() {
  for (const s of open) s.close();
  open.clear();
}

export function statusMessage(body, status) {
  if (body && typeof body === "object" && body.message) {
    const causes = ((body.details || {}).causes || []).map((c) => `${c.field || ""}: ${c.message}`);
    return [`${body.code || status} ${body.reason || ""}: ${body.message}`, ...causes].join("\n");
  }
  return `HTTP ${status}: ${typeof body === "string" ? body : JSON.stringify(body)}`;
}
