"""Priority and strategy (issue 11 §6, "cheaper by design"): what a request's priority means
for the order its candidates are tried in, and when a batch job may run.

This package face imports nothing: ``vidgate.types`` and ``vidgate.settings`` import
``priority.model`` (the priority and strategy names are part of a request and a setting), and
the rest stands on the routing layer. Import the modules themselves: ``model`` (the names, the
per-priority strategy map), ``ranking`` (a route plan reordered by a strategy, with the reason
for each place), ``window`` (the off-peak batch window).
"""
