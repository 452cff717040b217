"""Batches sent to a provider's own batch API (half price): planning, submission, polling, results.

``plan.py`` decides whether a batch can go there (every request routed to one provider that has a batch
API, the key's allow-lists passed, its budget able to hold the whole batch at the batch price);
``submit.py`` sends it, polls it on the schedule and turns its results into the caller's result lines;
``anthropic.py`` / ``openai.py`` speak each provider's batch API (``base.NativeBatches``).
"""
