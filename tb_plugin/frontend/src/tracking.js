// Tracking: where chosen samples sit at every epoch (the track route), shown as a table beside the graph.

import { api, isAbort } from "./model.js";
import { renderTrack } from "./views.js";

export class TrackingController {
  /** `update(patch)` writes the app's state; `state()` reads it; `params(run, layer)` is the Mapper query. */
  constructor(box, { update, state, params = () => ({}) }) {
    this.box = box;
    this.update = update;
    this.state = state;
    this.params = params;
    this.data = null;
    this.ctl = null;
  }

  /** Fetches the track of the state's samples (cancelling a superseded request) and renders it. */
  async refresh() {
    if (this.ctl) this.ctl.abort();
    const s = this.state();
    this.data = null;
    if (!s.track.length) {
      this.ctl = null;
      this.render();
      return;
    }
    const ctl = (this.ctl = new AbortController());
    this.render();
    try {
      this.data = await api.track(s.run, s.layer, s.track, ctl.signal, this.params(s.run, s.layer));
    } catch (e) {
      if (isAbort(e)) return;
      console.warn("topoact: track failed:", e.message);
      this.data = { epochs: [], nodes: {} };
    }
    this.render();
  }

  render() {
    const s = this.state();
    renderTrack(this.box, s.track, this.data, s.epoch, {
      onClear: () => this.update({ track: [] }),
      onPick: (e) => this.update({ epoch: e }),
    });
  }
}
