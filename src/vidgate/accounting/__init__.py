"""Money: what a video costs before (estimates) and after (charges) it is made, and what a
tenant may spend.

``pricing`` applies the operator's price overrides to the catalogue; ``charges`` decides what
an attempt cost from what its provider reported and the provider's billing rules; ``balances``
reads and keeps provider account balances. ``ledger`` holds reservations and settlements,
``budgets`` and ``quotas`` admit or refuse a job, ``spend`` reports.
"""

from __future__ import annotations

from .budgets import Budget, BudgetBook, admit, check_user
from .ledger import Reservation, close_job, true_up
from .spend import spend_report

__all__ = [
    "Budget",
    "BudgetBook",
    "Reservation",
    "admit",
    "check_user",
    "close_job",
    "spend_report",
    "true_up",
]
