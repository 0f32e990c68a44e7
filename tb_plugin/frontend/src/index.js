// Entry point of the TopoAct TensorBoard plugin. TensorBoard loads this module in the plugin's iframe and calls
// render() once; the tab itself is the App (app.js).

import css from "./style.css";
import { App } from "./app.js";
import { exposeDebug } from "./debug.js";
import { el } from "./dom.js";

/** Called once by TensorBoard after importing this module. */
export async function render() {
  const style = document.createElement("style");
  style.textContent = css;
  document.head.appendChild(style);
  const root = el("div", { cls: "topoact", testid: "topoact-root" });
  document.body.appendChild(root);
  const app = new App(root);
  exposeDebug(app);
  await app.start();
}
