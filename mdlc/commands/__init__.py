"""Sub-commands of ``mdlc``, one module per MDLC stage; each exposes ``register(main, local)``."""
