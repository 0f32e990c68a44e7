"""The entry point TensorBoard imports at start-up: kept tiny so it can never stop TensorBoard from starting.

``tensorboard`` imports every ``tensorboard_plugins`` entry point without a guard, so this module imports
nothing but TensorBoard's own base classes. The plugin and its dependencies (numpy, scipy, topoact_lightning)
are imported in :meth:`TopoActLoader.load`, where a failure is logged and only costs the TopoAct tab.
"""

from __future__ import annotations

import logging

from tensorboard.plugins import base_plugin

#: Must equal ``topoact_lightning.logformat.summary.PLUGIN_NAME``; repeated here so this module imports nothing of ours.
PLUGIN_NAME = "topoact"

logger = logging.getLogger("tensorboard.plugins.topoact")


class TopoActLoader(base_plugin.TBLoader):
    """Loads :class:`topoact_tensorboard.plugin.TopoActPlugin` and keeps every logged epoch.

    Example (what TensorBoard does with the entry point)::

        loader = TopoActLoader()
        loader.fix_flags(flags)
        plugin = loader.load(context)  # None if the plugin cannot be imported
    """

    def fix_flags(self, flags) -> None:
        # TensorBoard keeps only 10 steps per blob-sequence tag by default (a reservoir sample), which would
        # silently drop epochs from the slider. 0 means "keep all"; an explicit --samples_per_plugin wins.
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            flags.samples_per_plugin = {PLUGIN_NAME: 0}
        elif isinstance(samples, dict):
            samples.setdefault(PLUGIN_NAME, 0)

    def load(self, context):
        try:
            from topoact_tensorboard.plugin import TopoActPlugin

            return TopoActPlugin(context)
        except Exception:  # any import or set-up failure must leave TensorBoard running
            logger.exception(
                "The TopoAct plugin could not be loaded; TensorBoard runs without the TopoAct tab. "
                "Reinstall topoact-lightning in the environment that runs tensorboard."
            )
            return None
