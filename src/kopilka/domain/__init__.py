"""The pure domain: money, programs, members, expiry, rules. No I/O and no framework imports."""
