"""Long work off the request path: Anthropic Message Batches, OpenAI Files and Batch, ``x-aimux-async`` jobs.

The client routes (``surfaces/batches_*.py``, ``surfaces/jobs_http.py``) store the work and queue it;
the worker (``lambda_entry.WorkerHandler`` on Lambda, ``aimux worker``, or ``aimux serve``'s in-process
queue) runs each request through the gateway like a live one. This package sits below the surfaces: it
receives their accounting as ``ledger.Ledgers`` rather than importing them.
"""
