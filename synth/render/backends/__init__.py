"""One module per renderer backend, each registering a :class:`synth.render.registry.BackendEntry` (discovered by
:func:`synth.render.registry.backends`). These modules stay light: the renderers are imported on use."""
