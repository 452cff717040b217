"""What the admin API reports, computed from the shared state (never from one process's memory).

health.py       providers and models: state, breaker, cooldown, success rate, latency and TTFT percentiles,
                last errors (health buckets and breaker records)
usage.py        usage and cost grouped by any of key, project, model, provider, day (usage counters)
errors.py       recent upstream and client errors, grouped (health buckets and error-answer counters)
config_view.py  the effective configuration with every secret replaced by where it comes from
params.py       the query parameters these take, checked (400 naming the parameter)

The routes that serve them are ``surfaces/admin_*.py``; the items they read are documented where they
are written (``state/health.py``, ``state/breaker.py``, ``state/usage.py``, ``state/request_errors.py``).
"""
