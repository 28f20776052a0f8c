"""Prompts: the structured prompt, its rendering for each model, the linter, and templates.

The structured prompt itself is ``vidgate.prompt_model``, on the floor below ``vidgate.types``
(it is part of a request); this package stands above the catalogue. This package face imports
nothing: import the modules themselves: ``render`` (per-model text), ``lint`` (hints),
``templates`` and ``library/`` (the versioned template library), ``store`` (per-tenant
templates in the database), ``admission`` (the stage ``Engine.resolve`` runs).
"""
