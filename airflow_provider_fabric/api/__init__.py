"""Transport-neutral pieces shared by the sync hook, the async hook, sensors and triggers.

Nothing in this package performs I/O: it builds requests, encodes safe
parameters, maps answers to typed errors, decides what is retryable, knows the
status vocabularies and turns server timestamps into aware datetimes.
"""
