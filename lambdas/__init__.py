"""Lambda handlers of the MDLC workflows, one folder each (see docs/design.md)."""
