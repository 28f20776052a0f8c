"""Priority and strategy (issue 11 §6, "cheaper by design"): the names a request and a setting
use, and when a batch job may run. It imports nothing of vidgate's, so ``vidgate.types`` and
``vidgate.settings`` stand on it; ordering a plan by a strategy is ``vidgate.ranking``, on the
routing layer. Import the modules themselves: ``model`` (the names, the per-priority strategy
map) and ``window`` (the off-peak batch window).
"""
