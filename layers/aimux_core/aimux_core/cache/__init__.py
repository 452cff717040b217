"""Answers aimux does not pay for twice: the exact-match response cache and in-flight dedup.

    policy.py          which requests are cached, in which namespace (config ``response_cache``, the
                       caller's key and project, ``x-aimux-cache``, the sampling rule)
    cache_key.py       the digest that names a request's entry (canonical request, route, namespace)
    entry.py           the stored answer: compressed ``Message`` JSON in one state-store item
    dedup.py           the lease protocol on that item: claim, renew, give up, wait for the answer
    response_cache.py  what the gateway calls: open a ticket, keep or abandon the answer, tap a stream
    replay             a stored ``Message`` as the canonical event stream (``wire/replay.py``)

Only the standard library and aimux's own modules are imported. The surfaces import ``policy.py`` alone (to
read ``x-aimux-cache``); the rest loads with the gateway's parts (``assembly/parts.py``), on the first
request: the Lambda cold start does not pay for it.
"""
