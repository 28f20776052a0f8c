"""Accounting: budgets, quotas, the spend ledger and spend reports (see the modules)."""

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
