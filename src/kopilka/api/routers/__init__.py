"""One router per resource. Each route names the permission it needs (``permit``)."""
