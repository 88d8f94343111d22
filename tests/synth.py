"""Synthesis for tests: the same code path as `mdlc local` (mdlc/local/synth.py)."""

from mdlc.local.synth import Assembly, synth

__all__ = ["Assembly", "synth"]
