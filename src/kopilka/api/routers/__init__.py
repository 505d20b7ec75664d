"""One router per resource. Each route names the permission it needs (``permit``).

Routers carry their full prefix (``/v1/...``) so that a matched route's ``path`` is the
whole template the metrics label requests with.
"""

V1 = "/v1"
