"""MDLC templates: the team contract, the feature module, the offline harness and the CLI.

Kept import-free on purpose: Lambda bundles and SageMaker job bundles ship
``mdlc/features.py`` alone, and importing the package must not pull in pydantic or CDK.
"""
