"""UGSNet and its files: the network (ugsnet), model files and cards (files, card),
the ONNX graph (onnx_export) and the inference engines (engines).

The public face: ``build_model(variant)``, ``load_model(path, device)`` and
``save_model(model, card, path)``. They need PyTorch, which mapping does not, so
they are imported on first use rather than with this package."""

_PUBLIC = {"build_model": "ugsnet", "load_model": "files", "save_model": "files"}


def __getattr__(name):
    if name in _PUBLIC:
        import importlib
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
