// The plugin's routes: fetching, caching (responses frozen, shared by every caller) and cancelling. Nothing in here
// touches the DOM.

import { deepFreeze, prepareGraph } from "./graph.js";

/** A failed request; `message` is the server's own explanation (the body of a 400/404). */
export class HttpError extends Error {
  constructor(status, message, url) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.url = url;
  }
}

const cache = new Map();

/** `path?params` relative to the plugin's base URL (the iframe's <base> is plugin/topoact/). */
export function routeUrl(path, params) {
  const qs = params ? new URLSearchParams(params).toString() : "";
  return `./${path}${qs ? "?" + qs : ""}`;
}

/** True for the rejection of a request its caller cancelled (a newer one superseded it): not an error to show. */
export function isAbort(e) {
  return Boolean(e) && e.name === "AbortError";
}

function abortError() {
  return new DOMException("superseded", "AbortError");
}

/**
 * `promise`, or an AbortError as soon as `signal` aborts. Cached responses are shared (prefetching, both views),
 * so a caller that gives up stops waiting for the response instead of cancelling it for everyone.
 */
export function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

async function fetchJSON(path, params, { useCache = true, signal } = {}) {
  const url = routeUrl(path, params);
  if (useCache && cache.has(url)) return abortable(cache.get(url), signal);
  const promise = (async () => {
    let response;
    try {
      // Uncached requests belong to one caller, whose signal cancels the request itself.
      response = await fetch(url, { credentials: "same-origin", signal: useCache ? undefined : signal });
    } catch (e) {
      if (isAbort(e)) throw e;
      throw new HttpError(0, `Could not reach TensorBoard (${e.message})`, url);
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).trim();
      throw new HttpError(response.status, text.slice(0, 500) || `HTTP ${response.status}`, url);
    }
    // Shared by every caller (and by prefetching): frozen, so that no view can change what another reads.
    return deepFreeze(await response.json());
  })();
  if (useCache) {
    cache.set(url, promise);
    promise.catch(() => cache.delete(url));
  }
  return abortable(promise, signal);
}

/** Resolves when every request made so far has finished (for tests and benchmarks). */
export function settled() {
  return Promise.allSettled([...cache.values()]).then(() => true);
}

/** Forget every cached response (TensorBoard's Reload, or the refresh button). */
export function clearCache() {
  cache.clear();
}

/**
 * The plugin's routes. Each takes an optional AbortSignal: a superseded caller stops waiting. `graph`, `compare`,
 * `metrics` and `track` take Mapper parameters after it (params.js mapperQuery; `{}`: as logged), which are part of
 * the URL and so of the cache key.
 */
export const api = {
  /** The Mapper parameters a request may set, with their limits and options (the server's one statement). */
  params: (signal) => fetchJSON("params", null, { signal }),
  runs: (signal) => fetchJSON("runs", null, { useCache: false, signal }),
  epochs: (run, layer, signal) => fetchJSON("epochs", { run, layer }, { signal }),
  graph: (run, layer, epoch, signal, params = {}) =>
    fetchJSON("graph", { run, layer, epoch: String(epoch), ...params }, { signal }).then(prepareGraph),
  compare: (a, b, signal, params = {}) =>
    fetchJSON(
      "compare",
      {
        run: a.run, layer: a.layer, epoch: String(a.epoch),
        run2: b.run, layer2: b.layer, epoch2: String(b.epoch),
        ...params,
      },
      { signal },
    ),
  metrics: (run, layer, signal, params = {}) => fetchJSON("metrics", { run, layer, ...params }, { signal }),
  track: (run, layer, samples, signal, params = {}) =>
    fetchJSON("track", { run, layer, samples: samples.join(","), ...params }, { signal }),
  findings: (run, signal) => fetchJSON("findings", { run }, { signal }),
  projection: (run, layer, epoch, method, signal) =>
    fetchJSON("projection", { run, layer, epoch: String(epoch), method }, { signal }),
  thumbnailUrl: (run, sample) => routeUrl("thumbnail", { run, sample: String(sample) }),
};
