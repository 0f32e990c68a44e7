"""The TopoAct TensorBoard plugin: a "TopoAct" tab showing the Mapper graphs logged by ``TopoActMonitor``.

TensorBoard finds it through the ``tensorboard_plugins`` entry point (:class:`loader.TopoActLoader`). Importing
this package is cheap on purpose: the plugin itself (:mod:`topoact_tensorboard.plugin`) is imported only when
TensorBoard loads it, so a broken installation costs the tab, never the TensorBoard process.
"""
