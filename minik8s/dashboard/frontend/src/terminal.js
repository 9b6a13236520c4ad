// The exec terminal: xterm.js on the dashboard's WebSocket, which relays the apiserver's own
// `v5.channel.k8s.io` frames (first byte: 0 stdin, 1 stdout, 2 stderr, 3 Status, 4 resize).
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";

let current = null;

export function openTerminal(box, ns, pod, container, command) {
  if (current) current.close();
  box.replaceChildren();
  const term = new Terminal({ convertEol: true, cursorBlink: true, fontSize: 14, screenReaderMode: true });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  const q = new URLSearchParams({ container });
  for (const c of command) q.append("command", c);
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/exec/${encodeURIComponent(ns)}/${encodeURIComponent(pod)}?${q}`, ["v5.channel.k8s.io"]);
  ws.binaryType = "arraybuffer";
  const encoder = new TextEncoder(), decoder = new TextDecoder();
  const frame = (channel, bytes) => {
    const out = new Uint8Array(bytes.length + 1);
    out[0] = channel;
    out.set(bytes, 1);
    return out;
  };
  const resize = () => ws.readyState === 1 && ws.send(frame(4, encoder.encode(JSON.stringify({ Width: term.cols, Height: term.rows }))));
  ws.onopen = () => { resize(); term.focus(); };
  ws.onmessage = (e) => {
    const data = new Uint8Array(e.data);
    if (!data.length) return;
    const channel = data[0], body = data.subarray(1);
    if (channel === 1 || channel === 2) term.write(decoder.decode(body, { stream: true }));
    else if (channel === 3 && body.length) {
      const status = JSON.parse(decoder.decode(body));
      const text = status.status === "Success" ? "command exited (0)" : `${status.message || "exec failed"}`;
      term.write(`\r\n[${text}]\r\n`);
      box.setAttribute("data-status", status.status || "Failure");
    }
  };
  ws.onclose = () => term.write("\r\n[connection closed]\r\n");
  term.onData((d) => ws.readyState === 1 && ws.send(frame(0, encoder.encode(d))));
  term.onResize(resize);
  current = { close: () => { ws.close(); term.dispose(); } };
  return current;
}
