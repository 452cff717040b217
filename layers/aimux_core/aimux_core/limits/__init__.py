"""What a caller and a provider are allowed, and how aimux keeps them to it (the state lives in ``state/``).

admission.py     ``Admission``: before the upstream call, a key's rate windows and budget hold, in one round trip
windows.py       ``RateLimiter``: per-key requests and tokens per minute, fixed windows, taken atomically
budget.py        budgets a key sets, and the verdict when a request's cost does not fit (step down or refuse)
reservations.py  ``BudgetHolds``: each request's worst-case cost held against its budgets, settled after
spend.py         ``SpendLedger``: spend per key per UTC day and month, the item that holds it
headers.py       the ``anthropic-ratelimit-*`` / ``x-ratelimit-*`` headers of a ``RateDecision``
token_guards.py  a route's opt-in caps on what a request carries upstream: tool-result size, images, overflow
"""
