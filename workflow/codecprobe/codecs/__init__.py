"""Codec adapters: one module per family, all behind :class:`codecprobe.codecs.base.Codec`."""

from .base import KNOWN_FAMILIES, REGISTRY, Codec, CodecSpec, load_codec, register

__all__ = ["KNOWN_FAMILIES", "REGISTRY", "Codec", "CodecSpec", "load_codec", "register"]
