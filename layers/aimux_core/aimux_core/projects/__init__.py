"""Projects: a team's keys under shared limits and budgets, enforced across all of its keys together.

record.py     ``Project`` and its item (pk ``projects``, sk ``<name>``), the name and field rules
directory.py  ``ProjectDirectory``: every project, one ``Query``, cached per process (the hot path's copy)
admin.py      create, list, show, update, delete (admin routes and ``aimux projects``)
commands.py   ``aimux projects ...``: a running local gateway's admin routes, or the DynamoDB table

A key names its project in its record (``ApiKeyRecord.project``), so finding a caller's project costs no
read of its own; the project's limits come from the directory. Enforcement is in ``admission.py``: the
project's rate windows and budget holds sit beside the key's, in the same round trip.
"""
