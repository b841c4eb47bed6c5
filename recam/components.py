"""Errors about the local model folder, shared by the pipeline, ``recam prepare`` and training (no model imports)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_components_error", "REQUIRED_COMPONENTS"]

#: sub-folders of a Wan2.1 diffusers model folder that recam loads
REQUIRED_COMPONENTS = ("tokenizer", "text_encoder", "vae", "transformer")


def load_components_error(model_dir: Path, what: str) -> FileNotFoundError:
    """The error for a ``model_dir`` without the ``what/`` sub-folder (says what the folder must hold and that
    nothing is downloaded)."""
    return FileNotFoundError(
        f"{model_dir}: no {what}/ folder. --model_dir must be a local Wan2.1-T2V-1.3B in diffusers layout "
        f"(model_index.json, tokenizer/, text_encoder/, vae/, transformer/), e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers "
        f"downloaded beforehand, or `recam init-tiny DIR` for a tiny random one. Nothing is downloaded.")
