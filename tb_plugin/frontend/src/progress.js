// Work in progress, as the state's `tasks` hold it (loaders.js startTask): a line per task with its label, how
// far it got and the time elapsed, ticking while it runs. Work under QUIET_MS never shows.

import { el } from "./dom.js";

/** "Laying out fc1 over its epochs · 12 of 32 · 1.4 s". */
export function taskText(task, now) {
  const secs = Math.max(0, (now - task.started) / 1000);
  const done = task.total ? ` · ${task.done} of ${task.total}` : "";
  return `${task.label}…${done} · ${secs < 10 ? secs.toFixed(1) : Math.round(secs)} s`;
}

/** One task's line (or none), its elapsed time ticking, with an optional Cancel button. */
export class ElapsedNote {
  constructor({ testid, cancelText = null, onCancel = null } = {}) {
    this.element = el("div", { cls: "elapsed-note", testid });
    this.text = el("span", { testid: testid && `${testid}-text` });
    this.element.appendChild(this.text);
    if (cancelText) {
      const cancel = el("button", { text: cancelText, testid: testid && `${testid}-cancel` });
      cancel.addEventListener("click", () => onCancel && onCancel());
      this.element.appendChild(cancel);
    }
    this.element.hidden = true;
    this.task = null;
    this.timer = null;
  }

  /** Shows `task` (`{label, started, done, total}`), or hides the line for null. */
  show(task) {
    this.task = task;
    this.element.hidden = !task;
    clearInterval(this.timer);
    this.timer = null;
    if (!task) return;
    const tick = () => (this.text.textContent = taskText(this.task, performance.now()));
    tick();
    this.timer = setInterval(tick, 200);
  }
}

/** The tasks of the graphs' area (all but those a panel shows itself: `skip`), one line each, bottom left. */
export class ProgressLine {
  constructor({ skip = ["projection"] } = {}) {
    this.skip = skip;
    this.element = el("div", { cls: "progress", testid: "progress" });
    this.lines = new Map();
  }

  render(tasks) {
    for (const [name, note] of this.lines) {
      if (!tasks[name] || this.skip.includes(name)) {
        note.show(null);
        note.element.remove();
        this.lines.delete(name);
      }
    }
    for (const [name, task] of Object.entries(tasks)) {
      if (this.skip.includes(name)) continue;
      let note = this.lines.get(name);
      if (!note) {
        note = new ElapsedNote({ testid: "progress-line" });
        this.lines.set(name, note);
        this.element.appendChild(note.element);
      }
      if (note.task !== task) note.show(task);
    }
    this.element.hidden = this.lines.size === 0;
  }
}
