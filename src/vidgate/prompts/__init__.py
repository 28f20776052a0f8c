"""Prompts: the structured prompt, its rendering for each model, the linter, and templates.

This package face imports nothing: ``vidgate.types`` imports ``prompts.model`` (the structured
prompt is part of a request), and the rest of the package stands above the catalogue. Import the
modules themselves: ``model`` (the type), ``render`` (per-model text), ``lint`` (hints),
``templates`` and ``library/`` (the versioned template library), ``store`` (per-tenant
templates in the database), ``admission`` (the stage ``Engine.resolve`` runs).
"""
