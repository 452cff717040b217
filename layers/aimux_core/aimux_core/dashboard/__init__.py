"""The operator's dashboard: one page at ``GET /admin/`` over the admin API, and its local proxy.

``static/`` holds the page (HTML, CSS, JavaScript modules; no build step, nothing fetched from
elsewhere); ``page.py`` serves it from the admin app and from ``aimux dashboard``; ``proxy.py`` is
``aimux dashboard``: the page on 127.0.0.1 with its ``/admin`` calls forwarded to a deployed admin API,
SigV4-signed (``signing.py``) with the operator's own AWS credentials.
"""
