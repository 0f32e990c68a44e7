// The message channel TensorBoard offers plugin iframes (the protocol of tensorboard's experimental plugin_lib,
// written out here because it is not published as a package): the guest posts "experimental.bootstrap" with a
// MessagePort; both sides then exchange JSON strings {type, id, payload, error, isReply}.

let port = null;
let nextId = 0;
const waiting = new Map();
const handlers = new Map();

function post(msg) {
  if (port) port.postMessage(JSON.stringify(msg));
}

async function onMessage(ev) {
  let msg;
  try {
    msg = JSON.parse(ev.data);
  } catch {
    return;
  }
  if (msg.isReply) {
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.error) w.reject(new Error(String(msg.error)));
    else w.resolve(msg.payload);
    return;
  }
  let payload = null;
  let error = null;
  const fn = handlers.get(msg.type);
  if (fn) {
    try {
      payload = (await fn(msg.payload)) ?? null;
    } catch (e) {
      error = String(e && e.message ? e.message : e);
    }
  }
  // The host waits for a reply to every message it sends (DataReloaded included).
  post({ type: msg.type, id: msg.id, payload, error, isReply: true });
}

/** Opens the channel; a no-op outside an iframe (the plugin page opened on its own). */
export function connect() {
  if (port || window.parent === window) return false;
  const channel = new MessageChannel();
  port = channel.port1;
  port.onmessage = onMessage;
  window.parent.postMessage("experimental.bootstrap", "*", [channel.port2]);
  return true;
}

export function listen(type, fn) {
  handlers.set(type, fn);
}

/** Sends a request to the host; resolves with its reply, or null after `timeoutMs` without one. */
export function request(type, payload = null, timeoutMs = 2000) {
  if (!port) return Promise.resolve(null);
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      resolve(null);
    }, timeoutMs);
    waiting.set(id, {
      resolve: (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(e);
      },
    });
    post({ type, id, payload, error: null, isReply: false });
  });
}

// --------------------------------------------------------------------------------------- parent URL and theme
const PREFIX = "p.topoact.";

/**
 * The plugin's `p.topoact.<key>` entries of TensorBoard's URL hash (`#topoact&p.topoact.run=...`), read directly:
 * the host's GetURLPluginData answers {} on a first load. Same-origin access; any failure means "nothing".
 */
export function readParentHashState() {
  try {
    const hash = window.parent.location.hash.replace(/^#/, "");
    const out = {};
    for (const part of hash.split("&")) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      const key = decodeURIComponent(part.slice(0, eq));
      if (key.startsWith(PREFIX)) out[key.slice(PREFIX.length)] = decodeURIComponent(part.slice(eq + 1));
    }
    return out;
  } catch {
    return {};
  }
}

/**
 * Writes the state into TensorBoard's URL hash as `p.topoact.<key>` entries, through TensorBoard's own storage
 * module when it is there (so that its cached copy of the hash, which it rewrites on tab switches, keeps them),
 * else by editing the hash directly. Keys in `allKeys` missing from `pairs` are removed.
 */
export function writeParentHashState(pairs, allKeys) {
  try {
    if (window.parent === window) return false;
    const storage = window.parent.tensorboard && window.parent.tensorboard.tf_storage;
    if (storage && typeof storage.setString === "function") {
      for (const k of allKeys) {
        storage.setString(PREFIX + k, pairs[k] ?? "", { defaultValue: "", useLocationReplace: true });
      }
      return true;
    }
    const loc = window.parent.location;
    const parts = loc.hash.replace(/^#/, "").split("&").filter((p) => p && !decodeURIComponent(p.split("=")[0]).startsWith(PREFIX));
    for (const [k, v] of Object.entries(pairs)) parts.push(`${encodeURIComponent(PREFIX + k)}=${encodeURIComponent(v)}`);
    window.parent.history.replaceState(window.parent.history.state, "", `#${parts.join("&")}`);
    return true;
  } catch {
    return false;
  }
}

/** True when TensorBoard (or, outside it, the OS) is in dark mode; `onChange` is called when that flips. */
export function watchDarkMode(onChange) {
  const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const read = () => {
    try {
      if (window.parent !== window && window.parent.document && window.parent.document.body) {
        return window.parent.document.body.classList.contains("dark-mode");
      }
    } catch {
      // Cross-origin parent (embedded elsewhere): fall back to the OS preference.
    }
    return !!(media && media.matches);
  };
  let current = read();
  const check = () => {
    const now = read();
    if (now !== current) {
      current = now;
      onChange(now);
    }
  };
  if (media && media.addEventListener) media.addEventListener("change", check);
  try {
    if (window.parent !== window) {
      new window.parent.MutationObserver(check).observe(window.parent.document.body, {
        attributes: true,
        attributeFilter: ["class"],
      });
    }
  } catch {
    // No access to the parent: the media query listener is all there is.
  }
  return current;
}
